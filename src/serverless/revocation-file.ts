import { decodePlaintext, encodeMessage, encodePlaintext, type RevokeMsg } from './wire.js';

// A revocation record on disk: its wire message (the same bytes gossip carries), base64,
// one line. Parsed with the wire decoder, so a corrupt file is rejected like a bad packet.

export function encodeRevocation(r: RevokeMsg): string {
  return Buffer.from(encodeMessage(r)).toString('base64') + '\n';
}

export function decodeRevocation(text: string): RevokeMsg | null {
  const m = decodePlaintext(encodePlaintext(0, [Buffer.from(text.trim(), 'base64')]))?.messages;
  return m?.length === 1 && m[0].type === 'revoke' ? m[0] : null;
}
