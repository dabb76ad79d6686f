import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { generatePrivateKey, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { LinuxBind } from '../../src/io/bind-linux.js';
import { MagicBind } from '../../src/nat/magicsock.js';
import { encodeBindingRequest, newTransactionId, parseStun } from '../../src/nat/stun.js';
import { RelayClient } from '../../src/relay/client.js';
import { silentLogger } from '../../src/log.js';
import { MemberRelay } from '../../src/serverless/relay-member.js';
import { TrustSet } from '../../src/serverless/trust.js';
import { waitFor } from '../helpers/wait.js';

// A member that volunteers as a relay (`--relay`): the relay on TCP at its UDP port
// number admits trusted keys only and drops them when the trust set no longer has them;
// its shared UDP socket answers STUN with the sender's address.

async function setup(t: { after(fn: () => unknown): void }) {
  const [self, a, b] = [generatePrivateKey(), generatePrivateKey(), generatePrivateKey()];
  const entries = [self, a].map((k, i) => ({ key: publicKeyFromPrivate(k), name: `m${i}`, role: 'node' as const }));
  const trust = new TrustSet(entries);
  const magic = new MagicBind({ inner: new LinuxBind(), privateKey: self, heartbeatMs: 3_600_000 });
  const port = await magic.open(0, { onReceive: () => {} });
  const relay = new MemberRelay({ trust, magic, port, host: '127.0.0.1', logger: silentLogger });
  await relay.start();
  const clients: RelayClient[] = [];
  const client = (priv: typeof a) => {
    const c = new RelayClient({ url: `ws://127.0.0.1:${port}/relay`, privateKey: priv, backoffInitialMs: 50, backoffMaxMs: 200 });
    clients.push(c);
    return c;
  };
  t.after(async () => {
    clients.forEach((c) => c.stop());
    await relay.stop();
    await magic.shutdown();
  });
  return { trust, entries, relay, port, a, b, client };
}

test('the member relay admits trusted keys only, and closes a key the trust set drops', async (t) => {
  const { trust, entries, relay, a, b, client } = await setup(t);
  const ca = client(a);
  await ca.connect();
  assert.equal(ca.state, 'connected');
  const cb = client(b);
  void cb.connect().catch(() => {});
  assert.ok(await waitFor(() => cb.stats.authFailures >= 1, 3000), 'a stranger is refused');
  assert.notEqual(cb.state, 'connected');
  trust.replace(entries.slice(0, 1)); // m1 (key a) deauthorized
  relay.recheck();
  assert.ok(await waitFor(() => relay.stats.revoked === 1 && ca.stats.revoked === 1, 3000), JSON.stringify(relay.stats));
});

test('the shared UDP socket of a relay member answers STUN binding requests with the mapped address', async (t) => {
  const { port, relay } = await setup(t);
  const sock = dgram.createSocket('udp4');
  t.after(() => sock.close());
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const tx = newTransactionId();
  const reply = new Promise<Buffer>((r) => sock.once('message', r));
  sock.send(encodeBindingRequest(tx), port, '127.0.0.1');
  const msg = parseStun(await reply);
  assert.equal(msg?.cls, 'success');
  assert.deepEqual(Buffer.from(msg!.transactionId), Buffer.from(tx));
  assert.equal(msg?.xorMappedAddress?.key, `127.0.0.1:${sock.address().port}`);
  assert.equal(relay.stunStats.answered, 1);
});
