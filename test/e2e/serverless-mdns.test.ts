// mDNS discovery on a real multicast socket: two processes in a network namespace the
// test creates (loopback with multicast on), each announcing itself and finding the other.
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { keyToBase64, privateKeyFromBytes, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { Lab, runOk } from '../../src/lab/netns.js';
import { requireRoot, requireTools } from '../../src/lab/require.js';
import { e2eFile } from './helpers.js';

e2eFile();

const CHILD = fileURLToPath(new URL('../helpers/mdns-child.js', import.meta.url));
const pub = (n: number): string => keyToBase64(publicKeyFromPrivate(privateKeyFromBytes(new Uint8Array(32).fill(n))));

test('two members on one LAN find each other by mDNS', async (t) => {
  if (!requireRoot(t) || !requireTools(t, ['ip'])) return;
  const lab = new Lab();
  try {
    const ns = await lab.addNs();
    await runOk(['ip', '-n', ns, 'link', 'set', 'lo', 'multicast', 'on']);
    await runOk(['ip', '-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'lo']);
    const a = lab.spawn(ns, [process.execPath, CHILD, '1', '41641', pub(2)]);
    const b = lab.spawn(ns, [process.execPath, CHILD, '2', '41642', pub(1)]);
    await a.waitFor(new RegExp(`found ${pub(2).replace(/[+/]/g, '\\$&')} 127\\.0\\.0\\.1:41642`), 15_000);
    await b.waitFor(new RegExp(`found ${pub(1).replace(/[+/]/g, '\\$&')} 127\\.0\\.0\\.1:41641`), 15_000);
  } finally {
    await lab.destroy();
  }
});
