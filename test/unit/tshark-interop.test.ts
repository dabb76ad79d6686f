import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../src/clock.js';
import { AEAD_TAG_LEN, chachaSeal, writeNonce } from '../../src/crypto/aead.js';
import { generatePrivateKey, keyToBase64, presharedKeyFromBytes, publicKeyFromPrivate, type PublicKey } from '../../src/crypto/keys.js';
import { CookieGenerator } from '../../src/wireguard/cookie.js';
import { MESSAGE_TRANSPORT_HEADER_SIZE, MessageType, TRANSPORT_COUNTER_OFFSET, TRANSPORT_RECEIVER_OFFSET, writeU32 } from '../../src/wireguard/messages.js';
import { consumeInitiation, consumeResponse, createInitiation, createResponse, deriveSessionKeys, Handshake, type SessionKeys } from '../../src/wireguard/noise-protocol.js';
import { tai64n } from '../../src/wireguard/tai64n.js';

// Wireshark's WireGuard dissector is an independent implementation of the protocol:
// it must verify mac1, complete the handshake from the responder's key log and
// decrypt the transport messages we produce (Wireshark test/suite_decryption.py,
// TestDecryptWireguard, uses the same preferences and key-log lines).
const TSHARK = '/usr/bin/tshark';
const PORT = 51820;

function checksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += (b[i] << 8) | (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipv4(src: number[], dst: number[], proto: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  const dv = new DataView(p.buffer);
  p[0] = 0x45;
  dv.setUint16(2, p.length);
  p[8] = 64;
  p[9] = proto;
  p.set(src, 12);
  p.set(dst, 16);
  dv.setUint16(10, checksum(p.subarray(0, 20)));
  p.set(payload, 20);
  return p;
}

function udp(sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const u = new Uint8Array(8 + payload.length);
  const dv = new DataView(u.buffer);
  dv.setUint16(0, sport);
  dv.setUint16(2, dport);
  dv.setUint16(4, u.length); // checksum 0: none (allowed for UDP over IPv4)
  u.set(payload, 8);
  return u;
}

function icmpEcho(type: 0 | 8, seq: number): Uint8Array {
  const m = new Uint8Array(8 + 32);
  m[0] = type;
  new DataView(m.buffer).setUint16(4, 0x5746); // identifier
  new DataView(m.buffer).setUint16(6, seq);
  for (let i = 8; i < m.length; i++) m[i] = i;
  new DataView(m.buffer).setUint16(2, checksum(m));
  return m;
}

function transport(keys: SessionKeys, counter: bigint, packet: Uint8Array): Uint8Array {
  const padded = new Uint8Array(Math.ceil(packet.length / 16) * 16);
  padded.set(packet);
  const msg = new Uint8Array(MESSAGE_TRANSPORT_HEADER_SIZE + padded.length + AEAD_TAG_LEN);
  msg[0] = MessageType.Transport;
  writeU32(msg, TRANSPORT_RECEIVER_OFFSET, keys.remoteIndex);
  new DataView(msg.buffer).setBigUint64(TRANSPORT_COUNTER_OFFSET, counter, true);
  const nonce = new Uint8Array(12);
  writeNonce(nonce, counter);
  chachaSeal(msg.subarray(MESSAGE_TRANSPORT_HEADER_SIZE), keys.sendKey, nonce, padded);
  return msg;
}

/** pcap with LINKTYPE_RAW (101): each record is a bare IPv4 packet. */
function pcap(packets: Uint8Array[]): Uint8Array {
  const out = Buffer.alloc(24 + packets.reduce((n, p) => n + 16 + p.length, 0));
  out.writeUInt32LE(0xa1b2c3d4, 0);
  out.writeUInt16LE(2, 4);
  out.writeUInt16LE(4, 6);
  out.writeUInt32LE(65535, 16);
  out.writeUInt32LE(101, 20);
  let off = 24;
  packets.forEach((p, i) => {
    out.writeUInt32LE(1_767_225_600 + i, off);
    out.writeUInt32LE(0, off + 4);
    out.writeUInt32LE(p.length, off + 8);
    out.writeUInt32LE(p.length, off + 12);
    out.set(p, off + 16);
    off += 16 + p.length;
  });
  return out;
}

test('tshark decodes a Weft handshake and transport data', (t) => {
  if (!existsSync(TSHARK)) {
    if (process.env.WEFT_E2E_REQUIRED === '1') assert.fail('tshark not installed');
    t.skip('tshark not installed');
    return;
  }
  const clock = new FakeClock();
  const iPriv = generatePrivateKey();
  const rPriv = generatePrivateKey();
  const a = { privateKey: iPriv, publicKey: publicKeyFromPrivate(iPriv) };
  const b = { privateKey: rPriv, publicKey: publicKeyFromPrivate(rPriv) };
  const psk = presharedKeyFromBytes(Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i));
  const rEphemeral = generatePrivateKey();

  const hsA = new Handshake(b.publicKey, psk);
  hsA.setIdentity(a);
  const hsB = new Handshake(a.publicKey, psk);
  hsB.setIdentity(b);
  const init = createInitiation(a, hsA, 0x01020304, tai64n(clock.wallNow()))!;
  new CookieGenerator(b.publicKey, clock).addMacs(init);
  assert.ok(consumeInitiation(b, init, (pk: PublicKey) => (pk.every((x, i) => x === a.publicKey[i]) ? hsB : undefined), clock.now()));
  const resp = createResponse(b, hsB, 0x0a0b0c0d, rEphemeral)!;
  new CookieGenerator(a.publicKey, clock).addMacs(resp);
  assert.ok(consumeResponse(a, resp, (i) => (i === hsA.localIndex ? hsA : undefined)));
  const ka = deriveSessionKeys(hsA)!;
  const kb = deriveSessionKeys(hsB)!;

  const A = [192, 0, 2, 1];
  const B = [192, 0, 2, 2];
  const inA = [10, 0, 0, 1];
  const inB = [10, 0, 0, 2];
  const frames = [
    ipv4(A, B, 17, udp(PORT, PORT, init)),
    ipv4(B, A, 17, udp(PORT, PORT, resp)),
    ipv4(A, B, 17, udp(PORT, PORT, transport(ka, 0n, ipv4(inA, inB, 1, icmpEcho(8, 1))))),
    ipv4(B, A, 17, udp(PORT, PORT, transport(kb, 0n, ipv4(inB, inA, 1, icmpEcho(0, 1))))),
    ipv4(A, B, 17, udp(PORT, PORT, transport(ka, 1n, ipv4(inA, inB, 1, icmpEcho(8, 2))))),
  ];

  const dir = mkdtempSync(join(tmpdir(), 'weft-tshark-'));
  try {
    const file = join(dir, 'weft.pcap');
    writeFileSync(file, pcap(frames));
    const run = (pskForKeylog: Uint8Array): string[][] => {
      const keylog = join(dir, 'wg.keys');
      writeFileSync(
        keylog,
        [
          `REMOTE_STATIC_PUBLIC_KEY = ${keyToBase64(a.publicKey)}`,
          `LOCAL_STATIC_PRIVATE_KEY = ${keyToBase64(b.privateKey)}`,
          `LOCAL_EPHEMERAL_PRIVATE_KEY = ${keyToBase64(rEphemeral)}`,
          `PRESHARED_KEY = ${keyToBase64(pskForKeylog)}`,
          '',
        ].join('\n'),
      );
      const r = spawnSync(
        TSHARK,
        [
          '-n',
          '-r', file,
          '-d', `udp.port==${PORT},wg`,
          '-o', `uat:wg_keys:"Private","${keyToBase64(b.privateKey)}"`,
          '-o', `uat:wg_keys:"Public","${keyToBase64(a.publicKey)}"`,
          '-o', `wg.keylog_file:${keylog}`,
          '-T', 'fields',
          '-E', 'separator=|',
          '-e', 'frame.number',
          '-e', 'wg.type',
          '-e', 'wg.receiver_pubkey',
          '-e', 'wg.static',
          '-e', 'wg.handshake_ok',
          '-e', 'icmp.type',
          '-e', 'icmp.seq',
        ],
        { encoding: 'utf8', env: { ...process.env, HOME: dir }, timeout: 60_000 },
      );
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim().split('\n').map((l) => l.split('|'));
    };

    const yes = (v: string) => v === '1' || v === 'True';
    const rows = run(psk);
    t.diagnostic(rows.map((r) => r.join(' ')).join('; '));
    assert.equal(rows.length, 5);
    const [f1, f2, f3, f4, f5] = rows;
    assert.deepEqual(f1.slice(0, 4), ['1', '1', keyToBase64(b.publicKey), keyToBase64(a.publicKey)], 'initiation: mac1 matches the responder key, static decrypted');
    assert.deepEqual(f2.slice(0, 3), ['2', '2', keyToBase64(a.publicKey)], 'response: mac1 matches the initiator key');
    assert.ok(yes(f2[4]), `response handshake_ok: ${f2[4]}`);
    assert.deepEqual([f3[1], f3[5], f3[6]], ['4', '8', '1'], 'echo request decrypted');
    assert.deepEqual([f4[1], f4[5], f4[6]], ['4', '0', '1'], 'echo reply decrypted');
    assert.deepEqual([f5[1], f5[5], f5[6]], ['4', '8', '2'], 'second echo request (counter 1) decrypted');

    // Negative control: with the wrong PSK tshark must not complete the handshake.
    const wrong = run(new Uint8Array(32).fill(0x55));
    assert.ok(!yes(wrong[1][4]), 'handshake_ok with a wrong psk');
    assert.deepEqual(wrong.slice(2).map((f) => f[5]), ['', '', ''], 'nothing decrypts with a wrong psk');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
