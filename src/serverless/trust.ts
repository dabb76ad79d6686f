import { keyToBase64 } from '../crypto/keys.js';
import { verifyRevocation } from './revocation.js';
import type { RevokeMsg } from './wire.js';

// The trust set in memory: node keys (X25519) that may be members, admin keys (Ed25519)
// that may sign revocations, and the revocations accepted so far. Only a trusted,
// unrevoked node key is ever let into the membership, so junk cannot grow it.

export type TrustRole = 'node' | 'admin';

export interface TrustEntry {
  key: Uint8Array;
  name: string;
  role: TrustRole;
}

export const keyId = (k: Uint8Array): string => keyToBase64(k);

export class TrustSet {
  private readonly nodesById = new Map<string, TrustEntry>();
  private readonly adminIds = new Set<string>();
  private readonly revoked = new Map<string, RevokeMsg>();

  constructor(entries: readonly TrustEntry[], revocations: readonly RevokeMsg[] = []) {
    this.replace(entries, revocations);
  }

  /** The folder was edited: the new entries replace the old; accepted revocations stay. */
  replace(entries: readonly TrustEntry[], revocations: readonly RevokeMsg[] = []): void {
    const kept = [...this.revoked.values()];
    this.nodesById.clear();
    this.adminIds.clear();
    this.revoked.clear();
    for (const e of entries) {
      if (e.role === 'admin') this.adminIds.add(keyId(e.key));
      else this.nodesById.set(keyId(e.key), e);
    }
    for (const r of [...kept, ...revocations]) this.revoke(r);
  }

  /** A node key that may take part in gossip: authorized and not revoked. */
  isMember(id: string): boolean {
    return this.nodesById.has(id) && !this.revoked.has(id);
  }

  isRevoked(id: string): boolean {
    return this.revoked.has(id);
  }

  name(id: string): string | undefined {
    return this.nodesById.get(id)?.name;
  }

  nodes(): TrustEntry[] {
    return [...this.nodesById.values()];
  }

  revocations(): RevokeMsg[] {
    return [...this.revoked.values()];
  }

  /**
   * Accepts a revocation of a trusted node signed by a trusted admin; true when new.
   * The signature is checked last, so only records about our own trust set cost one.
   */
  revoke(r: RevokeMsg): boolean {
    const id = keyId(r.node);
    if (this.revoked.has(id) || !this.nodesById.has(id) || !this.adminIds.has(keyId(r.admin))) return false;
    if (!verifyRevocation(r)) return false;
    this.revoked.set(id, r);
    return true;
  }
}
