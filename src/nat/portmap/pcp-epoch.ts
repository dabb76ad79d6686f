// The PCP server's epoch (RFC 6887 8.5): every response carries the seconds since the
// server started or last lost its mappings. A client compares each one with the last it
// saw: going backwards by more than a second, or advancing at a rate that does not fit
// the client's own clock (2 s + 1/16 slack either way), means the server restarted and
// our mapping is gone even though its lifetime has not run out.

export class PcpEpoch {
  private prev: { serverS: number; clientMs: number } | null = null;

  /** Records a response's epoch seen at client time `clientMs`; false when the server lost its state since the previous one. */
  observe(serverS: number, clientMs: number): boolean {
    const prev = this.prev;
    this.prev = { serverS, clientMs };
    if (!prev) return true;
    if (serverS + 1 < prev.serverS) return false;
    const client = (clientMs - prev.clientMs) / 1000;
    const server = serverS - prev.serverS;
    return !(client + 2 < server - server / 16 || server + 2 < client - client / 16);
  }

  /** Forgets the server (another gateway, or our mapping was deleted). */
  reset(): void {
    this.prev = null;
  }
}
