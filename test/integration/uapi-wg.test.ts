import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { UapiError } from '../../src/wireguard/uapi.js';
import { UapiServer } from '../../src/wireguard/uapi-server.js';
import { FakeDevice, hexOf } from '../helpers/uapi-fake.js';

// wireguard-tools `wg` against the UAPI server on its real socket path: needs root (it
// writes /var/run/wireguard) and wg installed, so it is not a unit test.

const execFileP = promisify(execFile);

async function wgAvailable(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'not root';
  try {
    await execFileP('wg', ['--version']);
  } catch {
    return 'wg (wireguard-tools) not installed';
  }
  return null;
}

test('interop: wireguard-tools `wg` drives the server in /var/run/wireguard', async (t) => {
  const why = await wgAvailable();
  if (why) {
    if (process.env.WEFT_E2E_REQUIRED === '1') assert.fail(`interop test required but ${why}`);
    t.skip(why);
    return;
  }
  const name = `wtst${randomBytes(4).toString('hex')}`.slice(0, 12);
  const dev = new FakeDevice();
  const srv = new UapiServer(name, dev);
  await srv.start();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-wg-'));
  try {
    assert.equal(srv.path, `/var/run/wireguard/${name}.sock`);
    const empty = (await execFileP('wg', ['show', name, 'dump'])).stdout;
    assert.equal(empty, '(none)\t(none)\t0\toff\n');

    const priv = (await execFileP('wg', ['genkey'])).stdout.trim();
    const pub = (await execFileP('sh', ['-c', `echo ${priv} | wg pubkey`])).stdout.trim();
    const peerPub = Buffer.from(randomBytes(32)).toString('base64');
    const keyFile = path.join(tmp, 'key');
    fs.writeFileSync(keyFile, priv + '\n', { mode: 0o600 });
    await execFileP('wg', ['set', name, 'private-key', keyFile, 'listen-port', '1234', 'peer', peerPub,
      'allowed-ips', '10.0.0.0/24,fd00::/64', 'endpoint', '127.0.0.1:9', 'persistent-keepalive', '25']);

    assert.equal(dev.changes.length, 1);
    const ch = dev.changes[0];
    assert.equal(Buffer.from(ch.privateKey!).toString('base64'), priv);
    assert.equal(ch.listenPort, 1234);
    assert.equal(ch.replacePeers, false);
    assert.equal(ch.peers.length, 1);
    const p = ch.peers[0];
    assert.equal(Buffer.from(p.publicKey).toString('base64'), peerPub);
    assert.equal(p.endpoint, '127.0.0.1:9');
    assert.equal(p.persistentKeepalive, 25);
    assert.equal(p.replaceAllowedIps, true);
    assert.deepEqual(p.addAllowedIps, ['10.0.0.0/24', 'fd00::/64']);

    dev.peers.get(hexOf(p.publicKey))!.lastHandshakeMs = 1_700_000_000_500;
    dev.peers.get(hexOf(p.publicKey))!.rxBytes = 1234n;
    const dump = (await execFileP('wg', ['show', name, 'dump'])).stdout.trim().split('\n').map((l) => l.split('\t'));
    assert.deepEqual(dump[0], [priv, pub, '1234', 'off']);
    assert.deepEqual(dump[1], [peerPub, '(none)', '127.0.0.1:9', '10.0.0.0/24,fd00::/64', '1700000000', '1234', '0', '25']);

    const conf = (await execFileP('wg', ['showconf', name])).stdout;
    for (const l of ['[Interface]', 'ListenPort = 1234', `PrivateKey = ${priv}`, '[Peer]', `PublicKey = ${peerPub}`,
      'AllowedIPs = 10.0.0.0/24, fd00::/64', 'Endpoint = 127.0.0.1:9', 'PersistentKeepalive = 25']) {
      assert.ok(conf.split('\n').includes(l), `showconf lacks ${JSON.stringify(l)}:\n${conf}`);
    }

    // An error from the device reaches the wg command as a failure.
    dev.failWith = new UapiError('ERR_UAPI_ADDRINUSE', 'port taken');
    await assert.rejects(execFileP('wg', ['set', name, 'listen-port', '999']), /Address already in use/);
    dev.failWith = null;

    await execFileP('wg', ['set', name, 'peer', peerPub, 'remove']);
    assert.equal(dev.peers.size, 0);
    const names = (await execFileP('wg', ['show', 'interfaces'])).stdout.trim().split(/\s+/);
    assert.ok(names.includes(name));
  } finally {
    await srv.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  assert.equal(fs.existsSync(`/var/run/wireguard/${name}.sock`), false);
});
