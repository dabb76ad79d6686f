import { randomBytes } from 'node:crypto';
import { AEAD_TAG_LEN, XAEAD_NONCE_LEN, xchachaOpen, xchachaSeal } from '../crypto/aead.js';
import { KEY_LEN, keyToBase64, x25519, type PrivateKey } from '../crypto/keys.js';
import { DiscoFreshness, DiscoStamper } from '../nat/disco.js';
import { hash } from '../wireguard/noise-helpers.js';
import { GOSSIP_MAGIC, Kind, MAX_DATAGRAM, decodePlaintext, encodePlaintext, packetKind, type GossipMessage } from './wire.js';

// Gossip authentication: every datagram is sealed with XChaCha20-Poly1305 under
//   key = BLAKE2s(label ‖ X25519(own static private, peer static public))
// with AD = magic ‖ kind ‖ sender key, so it is bound to sender and receiver. The stamp
// inside is checked against a per-sender replay window (±60 s of our clock, each stamp
// once), as disco does. The sender key is checked against the trust set *before* any
// X25519, so a stranger's datagram costs a map lookup, and the shared-key cache holds
// trust-set keys only (bounded, never evicts). Nonces are a random 16-byte prefix per
// sealer and a 64-bit counter: unique without a random draw per datagram.
// PairSealer is that scheme for any datagram protocol with its own magic, label and
// plaintext codec (gossip here, the DHT in src/dht/wire.ts); GossipSealer is gossip's.

export interface SealCodec<In, Out> {
  encode(stamp: number, value: In): Uint8Array;
  /** null when malformed; never throws. */
  decode(plain: Uint8Array): { stamp: number; value: Out } | null;
}

export interface SealFraming<In, Out> {
  /** Protocol magic; the sealed kind byte follows it. */
  magic: Uint8Array;
  kind: number;
  /** Key-derivation label: keys differ per protocol even between the same pair. */
  label: string;
  maxDatagram: number;
  codec: SealCodec<In, Out>;
}

export type SealOpenResult<Out> =
  | { ok: true; sender: Uint8Array; senderId: string; value: Out }
  | { ok: false; reason: 'malformed' | 'untrusted' | 'unauthenticated' | 'replayed' };

export class PairSealer<In, Out> {
  private readonly keys = new Map<string, Uint8Array | null>();
  private readonly stamper = new DiscoStamper();
  private readonly freshness = new DiscoFreshness();
  private readonly label: Uint8Array;
  private readonly adLen: number;
  private readonly header: number;
  private counter = 0n;

  constructor(
    private readonly priv: PrivateKey,
    readonly publicKey: Uint8Array,
    private readonly framing: SealFraming<In, Out>,
    private readonly noncePrefix: Uint8Array = randomBytes(XAEAD_NONCE_LEN - 8),
  ) {
    this.label = new TextEncoder().encode(framing.label);
    this.adLen = framing.magic.length + 1 + KEY_LEN;
    this.header = this.adLen + XAEAD_NONCE_LEN;
  }

  /** The shared key with a trusted peer (call only for trust-set keys). */
  private key(peer: Uint8Array, id: string): Uint8Array | null {
    let k = this.keys.get(id);
    if (k === undefined) {
      const dh = x25519(this.priv, peer);
      k = dh ? hash(this.label, dh) : null;
      this.keys.set(id, k);
    }
    return k;
  }

  /** Seals `value` for `peer`; null when the peer key is unusable (zero DH). */
  seal(peer: Uint8Array, peerId: string, value: In, wallNow: number): Uint8Array | null {
    const k = this.key(peer, peerId);
    if (!k) return null;
    const { magic, kind, codec } = this.framing;
    const nonce = new Uint8Array(XAEAD_NONCE_LEN);
    nonce.set(this.noncePrefix);
    new DataView(nonce.buffer).setBigUint64(XAEAD_NONCE_LEN - 8, this.counter++);
    const ad = new Uint8Array(this.adLen);
    ad.set(magic);
    ad[magic.length] = kind;
    ad.set(this.publicKey, magic.length + 1);
    const box = xchachaSeal(k, nonce, codec.encode(this.stamper.next(wallNow), value), ad);
    const out = new Uint8Array(this.header + box.length);
    out.set(ad);
    out.set(nonce, this.adLen);
    out.set(box, this.header);
    return out;
  }

  /** Authenticates and decodes a sealed datagram (magic already checked by the caller's demux). Never throws. */
  open(pkt: Uint8Array, trusted: (sender: string) => boolean, wallNow: number): SealOpenResult<Out> {
    const { magic, kind, maxDatagram, codec } = this.framing;
    const { adLen, header } = this;
    if (pkt.length < header + AEAD_TAG_LEN || pkt.length > maxDatagram || pkt[magic.length] !== kind) return { ok: false, reason: 'malformed' };
    for (let i = 0; i < magic.length; i++) if (pkt[i] !== magic[i]) return { ok: false, reason: 'malformed' };
    const sender = pkt.slice(magic.length + 1, adLen);
    const id = keyToBase64(sender);
    if (!trusted(id)) return { ok: false, reason: 'untrusted' };
    const k = this.key(sender, id);
    const plain = k && xchachaOpen(k, pkt.subarray(adLen, header), pkt.subarray(header), pkt.subarray(0, adLen));
    if (!plain) return { ok: false, reason: 'unauthenticated' };
    const decoded = codec.decode(plain);
    if (!decoded) return { ok: false, reason: 'malformed' };
    if (!this.freshness.accept(id, decoded.stamp, wallNow)) return { ok: false, reason: 'replayed' };
    return { ok: true, sender, senderId: id, value: decoded.value };
  }
}

export type OpenResult =
  | { ok: true; sender: Uint8Array; senderId: string; messages: GossipMessage[] }
  | { ok: false; reason: 'malformed' | 'untrusted' | 'unauthenticated' | 'replayed' };

const GOSSIP_FRAMING: SealFraming<readonly Uint8Array[], GossipMessage[]> = {
  magic: GOSSIP_MAGIC,
  kind: Kind.Sealed,
  label: 'weft-gossip-v1',
  maxDatagram: MAX_DATAGRAM,
  codec: {
    encode: encodePlaintext,
    decode: (plain) => {
      const d = decodePlaintext(plain);
      return d && { stamp: d.stamp, value: d.messages };
    },
  },
};

export class GossipSealer {
  private readonly inner: PairSealer<readonly Uint8Array[], GossipMessage[]>;

  /** `noncePrefix` is fixed only by the fuzz seed writer, for reproducible files. */
  constructor(priv: PrivateKey, readonly publicKey: Uint8Array, noncePrefix?: Uint8Array) {
    this.inner = new PairSealer(priv, publicKey, GOSSIP_FRAMING, noncePrefix);
  }

  /** Seals encoded messages for `peer`; null when the peer key is unusable (zero DH). */
  seal(peer: Uint8Array, peerId: string, messages: readonly Uint8Array[], wallNow: number): Uint8Array | null {
    return this.inner.seal(peer, peerId, messages, wallNow);
  }

  /** Authenticates and decodes a sealed datagram. Never throws. */
  open(pkt: Uint8Array, trusted: (sender: string) => boolean, wallNow: number): OpenResult {
    if (packetKind(pkt) !== Kind.Sealed) return { ok: false, reason: 'malformed' };
    const r = this.inner.open(pkt, trusted, wallNow);
    return r.ok ? { ok: true, sender: r.sender, senderId: r.senderId, messages: r.value } : r;
  }
}

/** A WHOIS (kind 2) or IAM (kind 3) datagram of the protocol with `magic` (gossip, the DHT): same length, so answers never amplify. */
export function whoisDatagram(magic: Uint8Array, kind: Kind.Whois | Kind.Iam, key?: Uint8Array): Uint8Array {
  const out = new Uint8Array(magic.length + 1 + KEY_LEN);
  out.set(magic);
  out[magic.length] = kind;
  if (key) out.set(key, magic.length + 1);
  return out;
}

/** The key an IAM names; null unless `pkt` is a well-formed IAM of the protocol with `magic` (whose demux already checked the magic). */
export function parseIamDatagram(magic: Uint8Array, pkt: Uint8Array): Uint8Array | null {
  return pkt[magic.length] === Kind.Iam && pkt.length === magic.length + 1 + KEY_LEN ? pkt.slice(magic.length + 1) : null;
}

/** Gossip's WHOIS or IAM. */
export function whoisPacket(kind: Kind.Whois | Kind.Iam, key?: Uint8Array): Uint8Array {
  return whoisDatagram(GOSSIP_MAGIC, kind, key);
}

/** The key a gossip IAM names; null unless `pkt` is a well-formed IAM. */
export function parseIam(pkt: Uint8Array): Uint8Array | null {
  return packetKind(pkt) === Kind.Iam ? parseIamDatagram(GOSSIP_MAGIC, pkt) : null;
}
