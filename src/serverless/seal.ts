import { randomBytes } from 'node:crypto';
import { AEAD_TAG_LEN, XAEAD_NONCE_LEN, xchachaOpen, xchachaSeal } from '../crypto/aead.js';
import { KEY_LEN, keyToBase64, x25519, type PrivateKey } from '../crypto/keys.js';
import { DiscoFreshness, DiscoStamper } from '../nat/disco.js';
import { hash } from '../wireguard/noise-helpers.js';
import { GOSSIP_MAGIC, Kind, MAX_DATAGRAM, WHOIS_LEN, decodePlaintext, encodePlaintext, packetKind, type GossipMessage } from './wire.js';

// Gossip authentication: every datagram is sealed with XChaCha20-Poly1305 under
//   key = BLAKE2s("weft-gossip-v1" ‖ X25519(own static private, peer static public))
// with AD = magic ‖ kind ‖ sender key, so it is bound to sender and receiver. The stamp
// inside is checked against a per-sender replay window (±60 s of our clock, each stamp
// once), as disco does. The sender key is checked against the trust set *before* any
// X25519, so a stranger's datagram costs a map lookup, and the shared-key cache holds
// trust-set keys only (bounded, never evicts). Nonces are a random 16-byte prefix per
// sealer and a 64-bit counter: unique without a random draw per datagram.

const LABEL = new TextEncoder().encode('weft-gossip-v1');
const AD_LEN = GOSSIP_MAGIC.length + 1 + KEY_LEN;
const HEADER = AD_LEN + XAEAD_NONCE_LEN;

export type OpenResult =
  | { ok: true; sender: Uint8Array; senderId: string; messages: GossipMessage[] }
  | { ok: false; reason: 'malformed' | 'untrusted' | 'unauthenticated' | 'replayed' };

export class GossipSealer {
  private readonly keys = new Map<string, Uint8Array | null>();
  private readonly stamper = new DiscoStamper();
  private readonly freshness = new DiscoFreshness();
  private counter = 0n;

  /** `noncePrefix` is fixed only by the fuzz seed writer, for reproducible files. */
  constructor(
    private readonly priv: PrivateKey,
    readonly publicKey: Uint8Array,
    private readonly noncePrefix: Uint8Array = randomBytes(XAEAD_NONCE_LEN - 8),
  ) {}

  /** The shared key with a trusted peer (call only for trust-set keys). */
  private key(peer: Uint8Array, id: string): Uint8Array | null {
    let k = this.keys.get(id);
    if (k === undefined) {
      const dh = x25519(this.priv, peer);
      k = dh ? hash(LABEL, dh) : null;
      this.keys.set(id, k);
    }
    return k;
  }

  /** Seals encoded messages for `peer`; null when the peer key is unusable (zero DH). */
  seal(peer: Uint8Array, peerId: string, messages: readonly Uint8Array[], wallNow: number): Uint8Array | null {
    const k = this.key(peer, peerId);
    if (!k) return null;
    const nonce = new Uint8Array(XAEAD_NONCE_LEN);
    nonce.set(this.noncePrefix);
    new DataView(nonce.buffer).setBigUint64(XAEAD_NONCE_LEN - 8, this.counter++);
    const ad = new Uint8Array(AD_LEN);
    ad.set(GOSSIP_MAGIC);
    ad[GOSSIP_MAGIC.length] = Kind.Sealed;
    ad.set(this.publicKey, GOSSIP_MAGIC.length + 1);
    const box = xchachaSeal(k, nonce, encodePlaintext(this.stamper.next(wallNow), messages), ad);
    const out = new Uint8Array(HEADER + box.length);
    out.set(ad);
    out.set(nonce, AD_LEN);
    out.set(box, HEADER);
    return out;
  }

  /** Authenticates and decodes a sealed datagram. Never throws. */
  open(pkt: Uint8Array, trusted: (sender: string) => boolean, wallNow: number): OpenResult {
    if (packetKind(pkt) !== Kind.Sealed || pkt.length < HEADER + AEAD_TAG_LEN || pkt.length > MAX_DATAGRAM) return { ok: false, reason: 'malformed' };
    const sender = pkt.slice(GOSSIP_MAGIC.length + 1, AD_LEN);
    const id = keyToBase64(sender);
    if (!trusted(id)) return { ok: false, reason: 'untrusted' };
    const k = this.key(sender, id);
    const plain = k && xchachaOpen(k, pkt.subarray(AD_LEN, HEADER), pkt.subarray(HEADER), pkt.subarray(0, AD_LEN));
    if (!plain) return { ok: false, reason: 'unauthenticated' };
    const decoded = decodePlaintext(plain);
    if (!decoded) return { ok: false, reason: 'malformed' };
    if (!this.freshness.accept(id, decoded.stamp, wallNow)) return { ok: false, reason: 'replayed' };
    return { ok: true, sender, senderId: id, messages: decoded.messages };
  }
}

/** A WHOIS (kind 2) or IAM (kind 3) datagram: same length, so answers never amplify. */
export function whoisPacket(kind: Kind.Whois | Kind.Iam, key?: Uint8Array): Uint8Array {
  const out = new Uint8Array(WHOIS_LEN);
  out.set(GOSSIP_MAGIC);
  out[GOSSIP_MAGIC.length] = kind;
  if (key) out.set(key, GOSSIP_MAGIC.length + 1);
  return out;
}

/** The key an IAM names; null unless `pkt` is a well-formed IAM. */
export function parseIam(pkt: Uint8Array): Uint8Array | null {
  return packetKind(pkt) === Kind.Iam && pkt.length === WHOIS_LEN ? pkt.slice(GOSSIP_MAGIC.length + 1) : null;
}
