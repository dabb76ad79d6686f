import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { nativeAvailable } from '../../src/io/native.js';
import { parseGenReport } from '../../src/lab/udpgen.js';

// The generator's two processes over loopback: what the sender reports it sent arrives,
// tagged datagrams of another run are counted apart, and bad arguments are refused.

const AGENT = fileURLToPath(new URL('../../src/lab/agents/udpgen.js', import.meta.url));
const skip = process.platform !== 'linux' ? 'Linux only' : !nativeAvailable() ? 'native addon not built (npm run build:native)' : false;

/** Runs the agent to its end (killed after 20 s); its exit code and output. */
function runAgent(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [AGENT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => c.kill('SIGKILL'), 20_000);
    c.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

test('udpgen agents: the receiver counts the run the sender sent and sets other runs apart', { skip, timeout: 60_000 }, async () => {
  const rx = spawn(process.execPath, [AGENT, 'recv', '0', '77', '30000'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  rx.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const closed = new Promise<number | null>((r) => rx.on('close', r));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`receiver not ready: ${out}`)), 15_000);
      rx.stdout.on('data', () => {
        const m = /"ready":true,"port":(\d+)/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(Number(m[1]));
        }
      });
    });
    const mine = await runAgent(['send', '127.0.0.1', String(port), '36', '10000', '77', '3000']);
    const other = await runAgent(['send', '127.0.0.1', String(port), '100', '10000', '78', '50']);
    const sent = parseGenReport(mine.stdout, 'send');
    assert.ok(sent, mine.stdout + mine.stderr);
    assert.equal(mine.code, 0);
    assert.deepEqual([sent.sent, sent.bytes, sent.error], [3000, 3000 * 36, undefined]);
    assert.equal(parseGenReport(other.stdout, 'send')?.sent, 50);
    await new Promise((r) => setTimeout(r, 300));
    rx.stdin.end();
    assert.equal(await closed, 0);
    const got = parseGenReport(out, 'recv');
    assert.ok(got, out);
    assert.equal(got.timedOut, false);
    // Loopback with 7 MB buffers: nothing of 3,000 small datagrams is lost in practice, but
    // the check only needs the counts to be consistent with what was sent.
    assert.ok(got.datagrams > 0 && got.datagrams <= 3000, `received ${got.datagrams}`);
    assert.equal(got.bytes, got.datagrams * 36);
    assert.ok(got.foreign > 0 && got.foreign <= 50, `foreign ${got.foreign}`);
  } finally {
    rx.kill('SIGKILL');
  }
});

test('udpgen agent: out-of-range arguments and an unknown mode exit 2 with the reason', { skip, timeout: 30_000 }, async () => {
  const cases: Array<[string[], RegExp]> = [
    [['send', '127.0.0.1', '9', '7', '100', '1'], /PAYLOAD_BYTES must be an integer in 8\.\.1472/],
    [['send', '127.0.0.1', '9', '36', '200000', '1'], /MAX_MS/],
    [['recv', '70000', '1', '100'], /PORT/],
    [['flood'], /unknown mode flood/],
  ];
  for (const [args, re] of cases) {
    const r = await runAgent(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, re);
  }
});
