import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/clock.js';
import { generatePrivateKey } from '../../src/crypto/keys.js';
import type { PacketBatch } from '../../src/io/batch.js';
import { ENDPOINT_BYTES, Endpoint } from '../../src/io/endpoint.js';
import { MagicBind } from '../../src/nat/magicsock.js';
import { RecordingBind, toBatch } from '../helpers/recording-bind.js';

// Peers on external engines (wireguard-go, kernel) speak no disco (docs/BACKENDS.md):
// MagicBind hands their WireGuard datagrams to the engine with the real source, and
// sends to real endpoints unchanged, while other unknown sources stay dropped.

test('WireGuard from a plain source reaches the engine with its real address; others are dropped', async () => {
  const inner = new RecordingBind();
  const magic = new MagicBind({ inner, privateKey: generatePrivateKey(), clock: new FakeClock(), heartbeatMs: 3_600_000 });
  const got: string[] = [];
  await magic.open(0, {
    onReceive(batch: PacketBatch, sources: Uint8Array) {
      for (let i = 0; i < batch.count; i++) got.push(Endpoint.fromBytes(sources, i * ENDPOINT_BYTES).key);
    },
  });
  const wg = () => {
    const p = new Uint8Array(148);
    p[0] = 1; // handshake initiation
    return p;
  };
  const plain = Endpoint.of('10.99.0.11', 41641);
  magic.setPlainSources([plain.key, 'disco:none']);
  const { batch, sources } = toBatch([wg(), wg()], [plain, Endpoint.of('203.0.113.1', 1)]);
  inner.events!.onReceive(batch, sources);
  assert.deepEqual(got, [plain.key], 'the plain source passes with its own address');
  assert.equal(magic.stats.wgUnknownSource, 1, 'the stranger is dropped and counted');
  magic.setPlainSources([]);
  const again = toBatch([wg()], [plain]);
  inner.events!.onReceive(again.batch, again.sources);
  assert.equal(got.length, 1, 'no longer plain: dropped');
  await magic.close();
});
