import type { UapiDeviceChange, UapiDeviceSnapshot, UapiPeerSnapshot, UapiTarget } from '../../src/wireguard/uapi.js';

export const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// An in-memory device implementing the UapiDeviceChange semantics documented in uapi.ts.
export class FakeDevice implements UapiTarget {
  privateKey: Uint8Array | null = null;
  listenPort = 0;
  fwmark = 0;
  peers = new Map<string, UapiPeerSnapshot>();
  changes: UapiDeviceChange[] = [];
  failWith: Error | null = null;

  snapshot(): UapiDeviceSnapshot {
    return { privateKey: this.privateKey, listenPort: this.listenPort, fwmark: this.fwmark, peers: [...this.peers.values()] };
  }

  async apply(c: UapiDeviceChange): Promise<void> {
    await new Promise((r) => setImmediate(r));
    if (this.failWith) throw this.failWith;
    this.changes.push(c);
    if (c.privateKey) this.privateKey = c.privateKey.every((b) => b === 0) ? null : c.privateKey;
    if (c.listenPort !== undefined) this.listenPort = c.listenPort === 0 ? 40000 : c.listenPort;
    if (c.fwmark !== undefined) this.fwmark = c.fwmark;
    if (c.replacePeers) this.peers.clear();
    for (const p of c.peers) {
      const k = hexOf(p.publicKey);
      if (p.remove) {
        this.peers.delete(k);
        continue;
      }
      let s = this.peers.get(k);
      if (!s) {
        if (p.updateOnly) continue;
        s = { publicKey: p.publicKey, presharedKey: null, endpoint: null, lastHandshakeMs: 0, rxBytes: 0n, txBytes: 0n, persistentKeepalive: 0, allowedIps: [] };
        this.peers.set(k, s);
      }
      if (p.presharedKey) s.presharedKey = p.presharedKey.every((b) => b === 0) ? null : p.presharedKey;
      if (p.endpoint !== undefined) s.endpoint = p.endpoint;
      if (p.persistentKeepalive !== undefined) s.persistentKeepalive = p.persistentKeepalive;
      if (p.replaceAllowedIps) s.allowedIps = [];
      s.allowedIps = s.allowedIps.filter((a) => !p.removeAllowedIps.includes(a));
      for (const a of p.addAllowedIps) if (!s.allowedIps.includes(a)) s.allowedIps.push(a);
    }
  }
}
