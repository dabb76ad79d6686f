// One LanDiscovery on the real multicast-dns socket, run inside a test's network
// namespace: `node mdns-child.js <own seed byte> <port> <trusted public key>...`.
// Prints `found <public key> <endpoint>` for every trusted member it discovers.
import { keyFromBase64, keyToBase64, privateKeyFromBytes, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { LanDiscovery } from '../../src/serverless/mdns.js';

const [seed, port, ...trusted] = process.argv.slice(2);
const publicKey = publicKeyFromPrivate(privateKeyFromBytes(new Uint8Array(32).fill(Number(seed))));
const allowed = new Set(trusted.map((k) => keyToBase64(keyFromBase64(k))));
const d = new LanDiscovery({
  publicKey,
  port: Number(port),
  interfaceAddress: '127.0.0.1',
  trusted: (k) => allowed.has(keyToBase64(k)),
  onPeer: (k, ep) => process.stdout.write(`found ${keyToBase64(k)} ${ep.key}\n`),
});
d.start();
process.stdout.write(`ready ${keyToBase64(publicKey)}\n`);
process.on('SIGTERM', () => {
  d.stop();
  process.exit(0);
});
