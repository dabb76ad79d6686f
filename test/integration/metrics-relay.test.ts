import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { generatePrivateKey, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { RelayClient } from '../../src/relay/client.js';
import { scrape } from '../helpers/prom-text.js';

// `weft relay --metrics-listen` as a real process: two clients exchange packets through
// it and the scraped counters equal what was sent.

const WEFT = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('weft relay --metrics-listen counts clients, forwarded packets and bytes, and drops by reason', async (t) => {
  const proc = spawn(process.execPath, [WEFT, 'relay', '--listen', '127.0.0.1:0', '--no-stun', '--allow-any-key', '--metrics-listen', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.after(() => proc.kill('SIGTERM'));
  const running = await new Promise<{ url: string; metrics: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('relay did not start in 15 s')), 15_000);
    proc.once('exit', (code) => reject(new Error(`relay exited (${code})`)));
    createInterface({ input: proc.stderr! }).on('line', (line) => {
      const m = JSON.parse(line) as { msg?: string; url?: string; metrics?: string };
      if (m.msg === 'relay running') clearTimeout(timer), resolve(m as { url: string; metrics: string });
    });
  });
  const metrics = `${running.metrics}/metrics`;
  const got = { a: [] as number[], b: [] as number[] };
  const mk = (who: 'a' | 'b') => {
    const key = generatePrivateKey();
    const client = new RelayClient({ url: running.url, privateKey: key, onPacket: (_src, pkt) => got[who].push(pkt.length) });
    t.after(() => client.stop());
    return { pub: publicKeyFromPrivate(key), client };
  };
  const a = mk('a'), b = mk('b');
  await Promise.all([a.client.connect(), b.client.connect()]);

  const before = await scrape(metrics);
  assert.equal(before.value('weft_relay_clients'), 2);
  assert.equal(before.value('weft_relay_connections_total', { result: 'accepted' }), 2);
  assert.equal(before.value('weft_relay_forwarded_packets_total'), 0);

  let bytes = 0;
  for (let i = 1; i <= 10; i++) {
    assert.ok(a.client.send(b.pub, new Uint8Array(100 + i)));
    assert.ok(b.client.send(a.pub, new Uint8Array(200 + i)));
    bytes += 300 + 2 * i;
  }
  a.client.send(publicKeyFromPrivate(generatePrivateKey()), new Uint8Array(5)); // nobody has this key
  for (let i = 0; i < 500 && got.a.length + got.b.length < 20; i++) await sleep(10);
  assert.equal(got.a.length + got.b.length, 20);

  const after = await scrape(metrics);
  assert.equal(after.value('weft_relay_forwarded_packets_total'), 20);
  assert.equal(after.value('weft_relay_forwarded_bytes_total'), bytes);
  assert.equal(after.value('weft_relay_dropped_packets_total', { reason: 'no_peer' }), 1);
  assert.equal(after.value('weft_relay_dropped_packets_total', { reason: 'queue_full' }), 0);
  assert.equal(after.types.get('weft_relay_forwarded_bytes_total'), 'counter');
});
