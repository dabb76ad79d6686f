import type { IdentityStore } from '../store/index.js';
import type { Sealer } from './sealer.js';

// Sealed values in the database (sealed_secrets), by name: stored and read through the
// state dir's key ring (sealer.ts).

export async function putSecret(store: IdentityStore, sealer: Sealer, name: string, value: string, now: number): Promise<void> {
  await store.putSealed(name, sealer.seal(name, value), now);
}

export async function getSecret(store: IdentityStore, sealer: Sealer, name: string): Promise<string | null> {
  const sealed = await store.getSealed(name);
  return sealed === null ? null : sealer.open(name, sealed);
}

/** Re-encrypts every stored value under the ring's current key (key rotation). */
export async function resealAll(store: IdentityStore, sealer: Sealer, now: number): Promise<void> {
  for (const { name, value } of await store.listSealed()) await store.putSealed(name, sealer.seal(name, sealer.open(name, value)), now);
}
