import { ControlError } from '../errors.js';
import type { AdminProof } from '../console/session.js';
import type { IdentityStore } from '../store/index.js';
import type { AdminPasswords } from './passwords.js';

// A local admin (`weft admins create`) logs in to the web console with login and
// password. Argon2id and the per-source, per-login and global limits are
// AdminPasswords'; a too-many-attempts refusal passes through as 429. A session ends
// when its admin is removed.

const ACTOR_PREFIX = 'admin:';

export function adminPasswordProof(passwords: AdminPasswords, store: IdentityStore): AdminProof {
  return {
    method: 'password',
    async verify({ secret, login, source }) {
      if (!login) return null;
      try {
        const p = await passwords.verifyAdminPassword(login, secret, source);
        return `${ACTOR_PREFIX}${p.login}`;
      } catch (err) {
        if (err instanceof ControlError && err.code === 'ERR_LOGIN_FAILED') return null;
        throw err;
      }
    },
    async stillValid(actor) {
      return actor.startsWith(ACTOR_PREFIX) && (await store.findAdmin(actor.slice(ACTOR_PREFIX.length))) !== null;
    },
  };
}
