import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { readOrCreateFile, writeFileAtomic } from '../../atomic-file.js';
import { WeftError } from '../../errors.js';

// Recoverable secrets at rest (the OIDC client secret, future tokens) are sealed with
// AES-256-GCM under a key ring in `<stateDir>/secrets.key` (mode 0600), one key per
// line `<id> <base64 key>`, the last line the current key. Hashes are kept for what
// never needs to be read back (pre-auth keys, API keys, passwords).
//
// A sealed value is `v1.<key id>.<iv>.<ciphertext+tag>` (base64url); its name is the
// additional data, so a value copied to another name does not open. Rotation adds a new
// key, reseals every value, then drops the old keys: a crash in between leaves a ring
// that still opens every value.

export const SECRETS_KEY_FILE = 'secrets.key';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class SealError extends WeftError {
  constructor(message: string) {
    super('ERR_SEALED_SECRET', message);
  }
}

interface RingKey {
  id: string;
  key: Buffer;
}

function parseRing(text: string): RingKey[] {
  const keys: RingKey[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-z0-9]{1,32}) ([A-Za-z0-9+/]{43}=)$/.exec(line.trim());
    if (m) keys.push({ id: m[1], key: Buffer.from(m[2], 'base64') });
  }
  if (keys.length === 0) throw new SealError(`${SECRETS_KEY_FILE} holds no key (want lines "<id> <base64 32-byte key>")`);
  return keys;
}

const formatRing = (keys: RingKey[]): string => keys.map((k) => `${k.id} ${k.key.toString('base64')}\n`).join('');
const newKey = (): RingKey => ({ id: randomBytes(4).toString('hex'), key: randomBytes(32) });

export class Sealer {
  private constructor(private keys: RingKey[], private readonly file: string | null) {}

  /** The state dir's ring, created with one fresh key on first use. */
  static async open(stateDir: string): Promise<Sealer> {
    const file = join(stateDir, SECRETS_KEY_FILE);
    const text = await readOrCreateFile(file, () => formatRing([newKey()]));
    return new Sealer(parseRing(text.toString('utf8')), file);
  }

  /** An in-memory ring (tests). */
  static ephemeral(): Sealer {
    return new Sealer([newKey()], null);
  }

  get currentKeyId(): string {
    return this.keys[this.keys.length - 1].id;
  }

  get keyIds(): string[] {
    return this.keys.map((k) => k.id);
  }

  seal(name: string, plaintext: string): string {
    const k = this.keys[this.keys.length - 1];
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv('aes-256-gcm', k.key, iv);
    c.setAAD(Buffer.from(name, 'utf8'));
    const ct = Buffer.concat([c.update(plaintext, 'utf8'), c.final(), c.getAuthTag()]);
    return `v1.${k.id}.${iv.toString('base64url')}.${ct.toString('base64url')}`;
  }

  open(name: string, sealed: string): string {
    const m = /^v1\.([a-z0-9]{1,32})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]+)$/.exec(sealed);
    if (!m) throw new SealError(`sealed value ${name} is malformed`);
    const k = this.keys.find((x) => x.id === m[1]);
    if (!k) throw new SealError(`sealed value ${name} needs key ${m[1]}, which is not in ${SECRETS_KEY_FILE}`);
    const ct = Buffer.from(m[3], 'base64url');
    if (ct.length < TAG_BYTES) throw new SealError(`sealed value ${name} is malformed`);
    const d = createDecipheriv('aes-256-gcm', k.key, Buffer.from(m[2], 'base64url'));
    d.setAAD(Buffer.from(name, 'utf8'));
    d.setAuthTag(ct.subarray(ct.length - TAG_BYTES));
    try {
      return Buffer.concat([d.update(ct.subarray(0, ct.length - TAG_BYTES)), d.final()]).toString('utf8');
    } catch {
      throw new SealError(`sealed value ${name} failed authentication (wrong key or tampered)`);
    }
  }

  /**
   * Rotates to a fresh key: `reseal` must rewrite every stored value with `seal` (it
   * runs while old and new keys are both in the ring); afterwards only the new key is kept.
   */
  async rotate(reseal: () => Promise<void>): Promise<{ from: string; to: string }> {
    const from = this.currentKeyId;
    const next = [...this.keys, newKey()];
    await this.persist(next);
    this.keys = next;
    await reseal();
    const only = [next[next.length - 1]];
    await this.persist(only);
    this.keys = only;
    return { from, to: this.currentKeyId };
  }

  private async persist(keys: RingKey[]): Promise<void> {
    if (this.file) await writeFileAtomic(this.file, formatRing(keys), 0o600);
  }
}
