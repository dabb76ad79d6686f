import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// Issue #13: the engine has one writer. Outside src/wireguard nothing writes engine
// fields or calls the engine's per-field setters; everything goes through
// Device.reconfigure (or `wg set`, which goes through it too), and reads go through the
// read-only Device.peerStatus view, so Peer objects are not imported at all.

const SRC = fileURLToPath(new URL('../../../src', import.meta.url));

const FORBIDDEN: Array<[RegExp, string]> = [
  [/\.allowedIps\.(insert|remove|removeByValue)\(/, 'writes the allowed-IPs table'],
  [/\.endpoint\s*=(?!=)/, 'assigns a peer endpoint'],
  [/\.keypairs\b/, 'touches peer sessions'],
  [/\.timers\.(handshakeAttempts|\w+\.(mod|del))\b/, 'touches peer timers'],
  [/\.(addPeer|removePeer|setPrivateKey|setListenPort|setPresharedKey|setPersistentKeepalive|setFwmark|sendHandshakeInitiation|installKeypair|expireSessions)\(/, 'calls an engine setter'],
  [/from ['"][./]*wireguard\/peer\.js['"]/, 'imports the mutable Peer'],
];

function* tsFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* tsFiles(p);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) yield p;
  }
}

/** Every forbidden use in `text`, as `file:line: why`. */
export function engineWrites(file: string, text: string): string[] {
  const out: string[] = [];
  text.split('\n').forEach((line, i) => {
    for (const [re, why] of FORBIDDEN) if (re.test(line)) out.push(`${file}:${i + 1}: ${why}: ${line.trim()}`);
  });
  return out;
}

test('the scan finds each kind of engine write', () => {
  const bad = [
    'device.allowedIps.insert(p, peer);',
    'peer.endpoint = ep;',
    'if (!peer.keypairs.next) go();',
    'peer.timers.handshakeAttempts === 0',
    'device.addPeer(pub);',
    "import type { Peer } from '../wireguard/peer.js';",
  ];
  for (const line of bad) assert.equal(engineWrites('x.ts', line).length, 1, line);
  assert.deepEqual(engineWrites('x.ts', 'if (a.endpoint === b) x = device.peerStatus(k)?.endpoint;'), []);
});

test('nothing outside src/wireguard writes engine fields (Device.reconfigure is the one path)', () => {
  const found: string[] = [];
  let scanned = 0;
  for (const file of tsFiles(SRC)) {
    const rel = relative(SRC, file);
    if (rel.startsWith('wireguard/')) continue;
    scanned++;
    found.push(...engineWrites(rel, readFileSync(file, 'utf8')));
  }
  assert.ok(scanned > 50, `scanned ${scanned} files under ${SRC}`);
  assert.deepEqual(found, []);
});
