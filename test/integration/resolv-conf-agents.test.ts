// Several agent processes sharing one resolv.conf: apply/restore race across processes
// (and one of them is SIGKILLed while up); the original must never be missing and must
// be back byte for byte at the end, with no lock, backup or temporary file left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WEFT_MARKER } from '../../src/dns/resolv-conf.js';

const AGENT = fileURLToPath(new URL('../helpers/resolv-agent.js', import.meta.url));
const ORIGINAL = '# from DHCP\nnameserver 192.0.2.1\nnameserver 192.0.2.2\nsearch lan\noptions edns0\n';

function run(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; err: string; out: string }> } {
  const child = spawn(process.execPath, [AGENT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<{ code: number | null; err: string; out: string }>((resolve) => child.on('close', (code) => resolve({ code, err, out })));
  return { child, done };
}

test('6 agent processes + 1 crash share a resolv.conf: never missing, original back byte for byte', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-resolv-agents-'));
  try {
    const path = join(dir, 'resolv.conf');
    writeFileSync(path, ORIGINAL);
    const backup = (name: string): string => {
      mkdirSync(join(dir, name));
      return join(dir, name, 'resolv.pre-weft-backup.conf');
    };
    const expected = '192.0.2.1,192.0.2.2';
    // The crash: up first (so it owns the backup), SIGKILLed while the others run.
    const crasher = run([path, backup('state-crash'), 'weftc', '0', expected]);
    await new Promise<void>((resolve) => crasher.child.stdout!.on('data', () => resolve()));

    let seen = 0;
    let crashed = false;
    let bad = '';
    const watch = setInterval(() => {
      try {
        const text = readFileSync(path, 'utf8');
        if (text !== ORIGINAL && !text.startsWith(WEFT_MARKER)) bad ||= `unexpected content: ${JSON.stringify(text)}`;
        seen++;
        // Crash while others are up with it (agents run 15 rounds; this is early on).
        if (!crashed && (text.match(/^# weft-holder /gm) ?? []).length >= 3) crashed = crasher.child.kill('SIGKILL');
      } catch (err) {
        bad ||= `resolv.conf unreadable: ${(err as Error).message}`;
      }
    }, 1);
    // Half with their own state dir (as agents have), half with the default backup path.
    const agents = Array.from({ length: 6 }, (_, i) =>
      run([path, i % 2 ? backup(`state-${i}`) : join(dir, 'resolv.pre-weft-backup.conf'), `weft${i}`, '15', expected]),
    );
    const results = await Promise.all(agents.map((a) => a.done));
    crasher.child.kill('SIGKILL');
    await crasher.done;
    assert.ok(crashed, 'the crash happened while the others were up');
    clearInterval(watch);
    for (const r of results) assert.equal(r.code, 0, r.err);
    assert.equal(bad, '');
    assert.ok(seen > 0);
    assert.equal(readFileSync(path, 'utf8'), ORIGINAL);
    assert.deepEqual(readdirSync(dir).sort(), ['resolv.conf', 'state-1', 'state-3', 'state-5', 'state-crash']);
    for (const d of ['state-1', 'state-3', 'state-5', 'state-crash']) assert.deepEqual(readdirSync(join(dir, d)), [], d);
    assert.equal(existsSync(`${path}.weft-lock`), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
