import { AEAD_TAG_LEN } from '../crypto/aead.js';

// WireGuard wire formats, all in one place (WP §5.4; wireguard-go noise-protocol.go).
// Integers are little-endian. The first 4 bytes are the type byte followed by three
// zero bytes; anything else is not a WireGuard message. Handshake messages have a
// fixed size and must match it exactly.
export const MessageType = { Initiation: 1, Response: 2, CookieReply: 3, Transport: 4 } as const;
export type MessageTypeValue = (typeof MessageType)[keyof typeof MessageType];

export const KEY_SIZE = 32;
export const MAC_SIZE = 16;
export const TIMESTAMP_SIZE = 12;
export const COOKIE_NONCE_SIZE = 24;
export const COOKIE_SIZE = 16;

/*
 * Handshake initiation, 148 bytes:
 *   0 type=1 (4) | 4 sender (4) | 8 ephemeral (32) | 40 AEAD(static) (32+16)
 *   | 88 AEAD(timestamp) (12+16) | 116 mac1 (16) | 132 mac2 (16)
 */
export const MESSAGE_INITIATION_SIZE = 148;
export const INITIATION_SENDER_OFFSET = 4;
export const INITIATION_EPHEMERAL_OFFSET = 8;
export const INITIATION_STATIC_OFFSET = 40;
export const INITIATION_STATIC_SIZE = KEY_SIZE + AEAD_TAG_LEN;
export const INITIATION_TIMESTAMP_OFFSET = 88;
export const INITIATION_TIMESTAMP_SIZE = TIMESTAMP_SIZE + AEAD_TAG_LEN;
export const INITIATION_MAC1_OFFSET = 116;
export const INITIATION_MAC2_OFFSET = 132;

/*
 * Handshake response, 92 bytes:
 *   0 type=2 (4) | 4 sender (4) | 8 receiver (4) | 12 ephemeral (32)
 *   | 44 AEAD(empty) (0+16) | 60 mac1 (16) | 76 mac2 (16)
 */
export const MESSAGE_RESPONSE_SIZE = 92;
export const RESPONSE_SENDER_OFFSET = 4;
export const RESPONSE_RECEIVER_OFFSET = 8;
export const RESPONSE_EPHEMERAL_OFFSET = 12;
export const RESPONSE_EMPTY_OFFSET = 44;
export const RESPONSE_EMPTY_SIZE = AEAD_TAG_LEN;
export const RESPONSE_MAC1_OFFSET = 60;
export const RESPONSE_MAC2_OFFSET = 76;

/*
 * Cookie reply, 64 bytes:
 *   0 type=3 (4) | 4 receiver (4) | 8 nonce (24) | 32 XAEAD(cookie) (16+16)
 */
export const MESSAGE_COOKIE_REPLY_SIZE = 64;
export const COOKIE_REPLY_RECEIVER_OFFSET = 4;
export const COOKIE_REPLY_NONCE_OFFSET = 8;
export const COOKIE_REPLY_COOKIE_OFFSET = 32;
export const COOKIE_REPLY_COOKIE_SIZE = COOKIE_SIZE + AEAD_TAG_LEN;

/*
 * Transport data, 32 bytes or more:
 *   0 type=4 (4) | 4 receiver (4) | 8 counter (8) | 16 AEAD(packet padded to 16) (n+16)
 * A keepalive is a transport message with an empty packet.
 */
export const MESSAGE_TRANSPORT_HEADER_SIZE = 16;
export const TRANSPORT_RECEIVER_OFFSET = 4;
export const TRANSPORT_COUNTER_OFFSET = 8;
export const TRANSPORT_CONTENT_OFFSET = 16;
export const MESSAGE_TRANSPORT_SIZE_MIN = MESSAGE_TRANSPORT_HEADER_SIZE + AEAD_TAG_LEN;
export const MESSAGE_KEEPALIVE_SIZE = MESSAGE_TRANSPORT_SIZE_MIN;

/** The message type if the header and size are valid for it, else 0. */
export function messageType(buf: Uint8Array): number {
  if (buf.length < 4 || buf[1] !== 0 || buf[2] !== 0 || buf[3] !== 0) return 0;
  const t = buf[0];
  switch (t) {
    case MessageType.Initiation:
      return buf.length === MESSAGE_INITIATION_SIZE ? t : 0;
    case MessageType.Response:
      return buf.length === MESSAGE_RESPONSE_SIZE ? t : 0;
    case MessageType.CookieReply:
      return buf.length === MESSAGE_COOKIE_REPLY_SIZE ? t : 0;
    case MessageType.Transport:
      return buf.length >= MESSAGE_TRANSPORT_SIZE_MIN ? t : 0;
    default:
      return 0;
  }
}

export function readU32(buf: Uint8Array, off: number): number {
  return (buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16) | (buf[off + 3] << 24)) >>> 0;
}

export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
  buf[off + 2] = (v >>> 16) & 0xff;
  buf[off + 3] = (v >>> 24) & 0xff;
}
