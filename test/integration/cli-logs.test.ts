import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { WEFT_MAIN } from '../helpers/cli.js';

// Daemon logs: JSON lines when stderr is not a terminal (systemd), readable lines on a
// terminal, --log-format and WEFT_LOG_FORMAT to choose; the level is a word either way.

/** Runs `weft relay ARGS` until it logs that it runs; all of its output. `tty`: under script(1). */
async function relayLog(args: string[], env: NodeJS.ProcessEnv = {}, tty = false): Promise<string> {
  const argv = [process.execPath, WEFT_MAIN, 'relay', '--listen', '127.0.0.1:0', '--stun-port', '0', '--allow-any-key', ...args];
  const quoted = argv.map((a) => `'${a}'`).join(' ');
  const child = tty ? spawn('script', ['-qfec', quoted, '/dev/null'], { env: { ...process.env, ...env } }) : spawn(argv[0], argv.slice(1), { env: { ...process.env, ...env } });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no 'relay running' line in 30 s: ${out}`));
    }, 30_000);
    const onData = (d: Buffer): void => {
      out += d;
      if (/relay running/.test(out) && /\n/.test(out.slice(out.indexOf('relay running')))) {
        clearTimeout(timer);
        child.kill('SIGTERM');
        child.once('close', () => resolve(out));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
  });
}

const TEXT = /^\d\d:\d\d:\d\d\.\d{3} INFO  relay running url=ws:\/\/127\.0\.0\.1:\d+\/relay/m;

test('not a terminal: JSON lines with the level as a word', async () => {
  const out = await relayLog([], { WEFT_LOG_FORMAT: '' });
  const line = out.split('\n').find((l) => l.includes('relay running'))!;
  const j = JSON.parse(line) as { level: string; msg: string; time: string };
  assert.equal(j.level, 'info');
  assert.equal(j.msg, 'relay running');
});

test('--log-format text and WEFT_LOG_FORMAT=text: readable lines', async () => {
  assert.match(await relayLog(['--log-format', 'text']), TEXT);
  assert.match(await relayLog([], { WEFT_LOG_FORMAT: 'text' }), TEXT);
});

test('on a terminal: readable lines by default', async (t) => {
  if (!existsSync('/usr/bin/script')) return t.skip('needs script(1) from util-linux for a pseudo-terminal');
  assert.match((await relayLog([], {}, true)).replace(/\r/g, ''), TEXT);
});
