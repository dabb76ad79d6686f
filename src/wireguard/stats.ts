// Counters of what the device dropped and why. Every packet handler counts instead of
// throwing; `wg show` does not display these, `weft status` and metrics do.
export class DeviceStats {
  invalidMessage = 0; // wrong type, reserved bytes set, wrong size
  badMac1 = 0;
  handshakeFailed = 0; // did not decrypt, unknown peer, replayed or flooding initiation
  cookieRepliesSent = 0;
  badCookieReply = 0;
  ratelimited = 0;
  handshakeQueueFull = 0; // the handshake worker's queue (HANDSHAKE_QUEUE_SIZE) was full
  unknownIndex = 0;
  expiredKeypair = 0;
  decryptFailed = 0;
  replayed = 0;
  invalidInnerPacket = 0;
  disallowedSource = 0;
  noRoute = 0;
  noEndpoint = 0;
  noIdentity = 0;
  handlerErrors = 0; // an exception escaped a handler: a bug, but the packet is dropped, not the process

  toJSON(): Record<string, number> {
    return Object.fromEntries(Object.entries(this)) as Record<string, number>;
  }
}
