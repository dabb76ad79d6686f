// Writes the seed corpus: valid inputs of every fuzz target (test/fuzz/targets.ts) and a
// few edge cases, one file per input, named by content hash. Checked in; the fuzz test
// replays every file first, then mutates them. Regenerate (adds, never deletes) with
//   npm run build && node dist/test/fuzz/seed.js
import { fileURLToPath } from 'node:url';
import { addToCorpus, CORPUS_DIR } from './corpus.js';
import { FakeClock } from '../../src/clock.js';
import { keyToBase64, keyToHex, privateKeyFromBytes, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { buildEcho } from '../../src/agent/icmp.js';
import { signNodeRequest } from '../../src/wire/node-auth.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { DiscoKeys, encodeDiscoPlaintext, sealDisco, type DiscoMessage } from '../../src/nat/disco.js';
import { encodeBindingRequest, encodeStun, softwareAttr, STUN_METHOD_BINDING, xorMappedAddressAttr } from '../../src/nat/stun.js';
import { encodeFrame, type Frame } from '../../src/wire/relay.js';
import { CookieChecker, CookieGenerator } from '../../src/wireguard/cookie.js';
import { createInitiation, createResponse, consumeInitiation, Handshake } from '../../src/wireguard/noise-protocol.js';
import { tai64n } from '../../src/wireguard/tai64n.js';
import { adminKeyFromSeed, signRevocation } from '../../src/serverless/revocation.js';
import { GossipSealer, whoisPacket } from '../../src/serverless/seal.js';
import { keyId } from '../../src/serverless/trust.js';
import { encodeMessage, encodePlaintext, Kind, type GossipMessage } from '../../src/serverless/wire.js';


const text = (s: string): Uint8Array => new TextEncoder().encode(s);
// Fixed keys, nonces and times, so regenerating writes the same files.
const fixedKey = (n: number) => privateKeyFromBytes(new Uint8Array(32).fill(n));

function seeds(): Record<string, Uint8Array[]> {
  const a = fixedKey(1), b = fixedKey(2);
  const ia = { privateKey: a, publicKey: publicKeyFromPrivate(a) };
  const ib = { privateKey: b, publicKey: publicKeyFromPrivate(b) };
  const clock = new FakeClock(1_000_000, Date.UTC(2026, 0, 1));
  const hsA = new Handshake(ib.publicKey);
  hsA.setIdentity(ia);
  const hsB = new Handshake(ia.publicKey);
  hsB.setIdentity(ib);
  const init = createInitiation(ia, hsA, 1, tai64n(clock.wallNow()), fixedKey(3))!;
  new CookieGenerator(ib.publicKey, clock).addMacs(init);
  consumeInitiation(ib, init, () => hsB, clock.now());
  const resp = createResponse(ib, hsB, 2, fixedKey(4))!;
  new CookieGenerator(ia.publicKey, clock).addMacs(resp);
  const cookie = new CookieChecker(ib.publicKey, clock, (n) => new Uint8Array(n).fill(5)).createReply(init, 1, Endpoint.of('192.0.2.1', 51820).bytes);
  const transport = new Uint8Array(48);
  transport[0] = 4;

  const keys = new DiscoKeys(a, ia.publicKey);
  const msgs: DiscoMessage[] = [
    { type: 'ping', stamp: Date.UTC(2026, 0, 1), txid: new Uint8Array(12).fill(1) },
    { type: 'pong', stamp: Date.UTC(2026, 0, 1), txid: new Uint8Array(12).fill(2), src: Endpoint.parse('[2001:db8::1]:41641') },
    { type: 'callMeMaybe', stamp: 1, endpoints: [Endpoint.parse('10.0.0.2:51820'), Endpoint.parse('198.51.100.1:1')] },
    { type: 'callMeMaybe', stamp: 2, endpoints: [] },
    { type: 'punch', stamp: 3, attempt: 0, ack: false, waitS: 35, port: 40001, hard: false },
    { type: 'punch', stamp: 4, attempt: 5, ack: true, waitS: 600, port: 0, hard: true },
  ];

  const tx = new Uint8Array(12).fill(7);
  const frames: Frame[] = [
    { type: 'serverHello', serverKey: ia.publicKey, challenge: new Uint8Array(32).fill(3) },
    { type: 'clientAuth', clientKey: ia.publicKey, proof: new Uint8Array(32).fill(4) },
    { type: 'serverInfo', version: 1, maxPacket: 65536, keepaliveMs: 60000 },
    { type: 'sendPacket', key: ib.publicKey, packet: init },
    { type: 'recvPacket', key: ia.publicKey, packet: text('x') },
    { type: 'peerGone', key: ia.publicKey, reason: 1 },
    { type: 'keepalive' },
    { type: 'ping', data: new Uint8Array(8) },
    { type: 'pong', data: new Uint8Array(8).fill(9) },
    { type: 'health', problem: 'replaced by a newer connection' },
  ];

  const gossipMsgs: GossipMessage[] = [
    { type: 'ping', seq: 1, target: ib.publicKey },
    { type: 'indirectPing', seq: 2, target: ib.publicKey, addr: Endpoint.parse('10.0.0.2:7946'), wantNack: true },
    { type: 'ack', seq: 1 },
    { type: 'nack', seq: 2 },
    { type: 'alive', incarnation: 3, node: ia.publicKey, relay: true, endpoints: [Endpoint.parse('10.0.0.1:7946'), Endpoint.parse('[2001:db8::1]:7946')] },
    { type: 'suspect', incarnation: 4, node: ib.publicKey, from: ia.publicKey },
    { type: 'dead', incarnation: 5, node: ib.publicKey, from: ia.publicKey },
    { type: 'sync', wantReply: true },
    signRevocation(adminKeyFromSeed(new Uint8Array(32).fill(8)), ib.publicKey, Date.UTC(2026, 0, 1)),
  ];
  const gossipSealed = new GossipSealer(a, ia.publicKey, new Uint8Array(16).fill(6)).seal(ib.publicKey, keyId(ib.publicKey), gossipMsgs.slice(0, 5).map(encodeMessage), Date.UTC(2026, 0, 1))!;

  const key = keyToBase64(ia.publicKey);
  const peer = { id: 2, name: 'beta', fqdn: 'beta.weft.internal', ipv4: '100.64.0.2', ipv6: 'fd7a:115c:a1e0::2', publicKey: keyToBase64(ib.publicKey), endpoints: ['192.0.2.2:51820', 'relay:default'], online: true, expired: false, lastSeen: null, createdAt: '2026-01-01T00:00:00.000Z', expiresAt: null, ephemeral: false, tags: [], user: 'alice', advertisedRoutes: [], approvedRoutes: [] };
  return {
    'wireguard-message': [init, resp, cookie, transport, new Uint8Array(0), Uint8Array.of(1, 0, 0, 0)],
    disco: [...msgs.map((m) => sealDisco(keys, ib.publicKey, m, new Uint8Array(24).fill(6))!), ...msgs.map((m) => encodeDiscoPlaintext(m))],
    stun: [
      encodeBindingRequest(tx, 'weft'),
      encodeStun({ method: STUN_METHOD_BINDING, cls: 'success', transactionId: tx, attributes: [xorMappedAddressAttr(Endpoint.parse('198.51.100.7:40000'), tx), softwareAttr('weft')] }),
      encodeStun({ method: STUN_METHOD_BINDING, cls: 'success', transactionId: tx, attributes: [xorMappedAddressAttr(Endpoint.parse('[2001:db8::7]:40000'), tx)] }, { fingerprint: false }),
    ],
    portmap: [
      Buffer.from('0080000000000e10c6140b0b', 'hex'),
      Buffer.from('00810000 00000e10 a2a9c350 00001c20'.replace(/ /g, ''), 'hex'),
      Buffer.from('0281000000001c2000000e10000000000000000000000000' + '0102030405060708090a0b0c11000000a2a9c35000000000000000000000ffffc6140b0b', 'hex'),
      text('HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n\r\n'),
      text('<root><device><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>/ctl/IPConn</controlURL></service></serviceList></device></root>'),
      text('<s:Envelope><s:Body><u:GetExternalIPAddressResponse><NewExternalIPAddress>198.20.11.11</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>'),
      text('<s:Envelope><s:Body><s:Fault><detail><UPnPError><errorCode>718</errorCode></UPnPError></detail></s:Fault></s:Body></s:Envelope>'),
    ],
    'relay-frame': frames.map((f) => encodeFrame(f)),
    'icmp-echo': [
      buildEcho({ src: '100.64.0.1', dst: '100.64.0.2', request: true, id: 7, seq: 1, payload: text('ping') }),
      buildEcho({ src: 'fd7a:115c:a1e0::1', dst: 'fd7a:115c:a1e0::2', request: false, id: 7, seq: 2, payload: new Uint8Array(0) }),
    ],
    'server-message': [
      text(JSON.stringify({ type: 'full', version: 5, self: { ...peer, id: 1, name: 'alpha', publicKey: key }, peers: [peer], domain: 'weft.internal', dns: { magicDns: true, resolverIPv4: '100.100.100.100', resolverIPv6: 'fd7a:115c:a1e0::53', routes: {} }, relays: [{ id: 'default', url: 'wss://x/relay', stun: ['192.0.2.9:3478'] }] })),
      text(JSON.stringify({ type: 'delta', upserts: [peer], removals: [key] })),
      text('{"type":"keepalive"}'),
      text('[]'),
    ],
    'client-message': [
      text('{"type":"ping","id":1}'),
      text('{"type":"endpoints","endpoints":["192.0.2.1:41641","[2001:db8::1]:41641","relay:default"]}'),
      text('{"type":"routes","routes":["10.1.0.0/16","0.0.0.0/0","::/0"]}'),
      text(JSON.stringify({ type: 'status', version: '0.1.0', paths: { [key]: 'direct', [keyToBase64(ib.publicKey)]: 'relay' } })),
    ],
    'socks5-request': [
      Uint8Array.of(5, 1, 0, 1, 100, 64, 0, 2, 0, 80),
      Uint8Array.of(5, 1, 0, 3, 4, ...text('beta'), 1, 187, 71, 69, 84),
      Uint8Array.of(5, 1, 0, 4, ...new Uint8Array(15), 1, 0, 22),
    ],
    'resume-point': [text('0123456789abcdef.42')],
    'node-auth': [text(signNodeRequest(new Uint8Array(32), ia.publicKey, 'POST', '/api/v1/register', text('{}'), 1_767_225_600, { nonce: 'AAAAAAAAAAAAAAAA' }))],
    'uapi-set': [
      text(`private_key=${keyToHex(a)}\nlisten_port=51820\nfwmark=0\nreplace_peers=true\npublic_key=${keyToHex(ib.publicKey)}\nendpoint=192.0.2.2:51820\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=10.0.0.2/32\nallowed_ip=fd00::2/128\n`),
      text(`public_key=${keyToHex(ib.publicKey)}\nremove=true\n`),
    ],
    gossip: [
      gossipSealed,
      encodePlaintext(Date.UTC(2026, 0, 1), gossipMsgs.map(encodeMessage)),
      ...gossipMsgs.map((m) => encodePlaintext(1, [encodeMessage(m)])),
      whoisPacket(Kind.Whois),
      whoisPacket(Kind.Iam, ia.publicKey),
    ],
    policy: [
      text(`// seed\n{\n  "groups": { "group:eng": ["alice@"] },\n  "tagOwners": { "tag:server": ["group:eng"] },\n  "hosts": { "nas": "192.0.2.7", "lan": "192.0.2.0/24" },\n  "acls": [ { "action": "accept", "src": ["group:eng", "lan"], "dst": ["tag:server:22,80-90", "nas:*"], "proto": "tcp" } ],\n  "tests": [ { "src": "alice@", "accept": ["tag:server:22"], "deny": ["tag:server:23"] } ],\n}`),
      text('{}'),
      text(`{\n  "dnsRecords": [\n    { "name": "grafana.weft.internal", "type": "A", "value": "100.64.0.5" },\n    { "name": "www.weft.internal", "type": "CNAME", "value": "web.weft.internal" },\n    { "name": "web.weft.internal", "type": "TXT", "value": "owner=ops" },\n    { "name": "_http._tcp.web.weft.internal", "type": "SRV", "value": "0 5 8080 web.weft.internal" },\n  ],\n}`),
    ],
  };
}

/** Writes every seed not yet in the corpus; returns how many files were written. */
export function writeSeeds(dir = CORPUS_DIR): number {
  let n = 0;
  for (const [target, inputs] of Object.entries(seeds())) {
    for (const input of inputs) {
      addToCorpus(target, input, dir);
      n++;
    }
  }
  return n;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(`${writeSeeds()} seed files in ${CORPUS_DIR}`);
