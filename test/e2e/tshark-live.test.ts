// An independent decoder agrees with what the engine really sends: Wireshark's
// WireGuard dissector reads a live capture of a weft-wg <-> wireguard-go handshake and
// ping, verifies the handshake with weft's key log and decrypts the transport packets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, execOk, runOk, sleep } from '../../src/lab/netns.js';
import { createPair, WEFT, WIREGUARD_GO } from '../../src/lab/wg-pair.js';
import { e2eFile, pre } from './helpers.js';

e2eFile();

test('tshark decodes a live weft handshake and decrypts its transport data', { timeout: 90_000 }, async (t) => {
  if (!pre(t, [WEFT, WIREGUARD_GO], ['tshark', 'dumpcap'])) return;
  const tmp = mkdtempSync(join(tmpdir(), 'weft-tshark-'));
  const keylog = join(tmp, 'wg.keys');
  const pcap = join(tmp, 'live.pcap');
  const lab = new Lab();
  const saved = process.env.WEFT_WG_KEYLOG;
  process.env.WEFT_WG_KEYLOG = keylog;
  try {
    const pair = await createPair({ a: WEFT, b: WIREGUARD_GO, endpoints: 'a', lab });
    delete process.env.WEFT_WG_KEYLOG;
    // dumpcap (Wireshark's capture engine) starts faster than tshark; the handshake
    // only happens at the first ping, so it must be capturing before that.
    const cap = lab.spawn(pair.a.ns, ['dumpcap', '-q', '-i', pair.a.underIf, '-f', 'udp port 51820', '-w', pcap, '-a', 'duration:60']);
    const deadline = Date.now() + 45_000;
    while (!/Capturing on/.test(cap.stderr) && Date.now() < deadline) await sleep(100);
    assert.match(cap.stderr, /Capturing on/, 'capture started');
    const ping = await pair.ping('a', 4, 3);
    assert.ok(ping.received >= 1, ping.output);
    await sleep(500);
    await cap.kill('SIGINT', 5000);
    assert.ok(existsSync(pcap), `capture written: ${cap.stderr}`);
    assert.ok(existsSync(keylog), 'weft wrote its key log');
    const out = await runOk(
      ['tshark', '-r', pcap, '-d', 'udp.port==51820,wg', '-o', `wg.keylog_file:${keylog}`, '-T', 'fields', '-e', 'wg.type', '-e', 'wg.handshake_ok', '-e', 'icmp.type', '-e', 'wg.static'],
      { timeoutMs: 30_000 },
    );
    const rows = out.trim().split('\n').map((l) => l.split('\t'));
    // The initiation's encrypted static key decrypts to weft's public key.
    assert.ok(rows.some((r) => r[0] === '1' && r[3] === pair.a.keys.publicKey), `initiation decrypted:\n${out}`);
    assert.ok(rows.some((r) => r[0] === '2' && r[1] === '1'), `response verified:\n${out}`);
    assert.ok(rows.filter((r) => r[0] === '4' && r[2] === '8').length >= 1, `echo requests decrypted:\n${out}`);
    assert.ok(rows.filter((r) => r[0] === '4' && r[2] === '0').length >= 1, `echo replies decrypted:\n${out}`);
    await pair.stop();
  } finally {
    if (saved === undefined) delete process.env.WEFT_WG_KEYLOG;
    else process.env.WEFT_WG_KEYLOG = saved;
    await lab.destroy();
    rmSync(tmp, { recursive: true, force: true });
  }
});
