// Certificates for the coordinator's HTTPS from an ACME CA (RFC 8555, Let's Encrypt by
// default), answered by HTTP-01 on port 80. The JWS/nonce/CSR plumbing is acme-client's;
// the order state machine is spelled out in `issue()`. Files in <stateDir>/acme (0700):
//   account.key         the ACME account key (PEM, 0600), created once
//   <domain>.key / .crt the certificate's key (0600) and chain, replaced atomically
// A certificate is renewed once less than a third of its lifetime is left (Let's
// Encrypt's advice); a failed renewal is retried hourly while the old one still serves.
import acme from 'acme-client';
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { readOrCreateFile, writeFileAtomic } from '../atomic-file.js';
import type { Clock, TimerHandle } from '../clock.js';
import { InvalidArgumentError } from '../errors.js';
import { AcmeError } from './errors.js';
import { LETS_ENCRYPT_DIRECTORY } from './defaults.js';

const CHALLENGE_PATH = '/.well-known/acme-challenge/';
const RETRY_MS = 3_600_000;
// Timers re-check at least daily: a 90-day certificate's renewal is beyond setTimeout's 24.8 days.
const MAX_WAIT_MS = 86_400_000;

export interface AcmeOptions {
  /** The name the certificate is for; must resolve to this server. */
  domain: string;
  /** Contact for the CA's expiry notices. */
  email?: string;
  /** Default Let's Encrypt production. The CA's own TLS is trusted through Node's store (NODE_EXTRA_CA_CERTS). */
  directoryUrl?: string;
  /** Where HTTP-01 is answered; default port 80 (where the CA connects) on the API's host. */
  http?: { host: string; port: number };
}

export interface TlsPair {
  cert: Buffer;
  key: Buffer;
}

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A DNS name a public CA can issue for (no IP, no wildcard, at least two labels). */
export function checkAcmeDomain(domain: string): string {
  const d = domain.toLowerCase().replace(/\.$/, '');
  if (!HOSTNAME.test(d)) throw new InvalidArgumentError(`--acme-domain wants a DNS name like weft.example.com, got ${JSON.stringify(domain)}`);
  return d;
}

/** Unix ms at which `certPem` is due for renewal: two thirds into its lifetime. */
export function renewAt(certPem: string | Buffer): number {
  const c = new X509Certificate(certPem);
  const from = Date.parse(c.validFrom);
  const to = Date.parse(c.validTo);
  return to - (to - from) / 3;
}

function expiry(certPem: Buffer): number {
  return Date.parse(new X509Certificate(certPem).validTo);
}

export class AcmeManager {
  /** Called with each renewed certificate (the HTTPS server swaps its context). */
  onRenew: ((pair: TlsPair) => void) | null = null;
  readonly domain: string;
  private readonly dir: string;
  /** token -> key authorization, only while a challenge of ours is pending. */
  private readonly tokens = new Map<string, string>();
  private http: Server | null = null;
  private timer: TimerHandle | null = null;
  private pair: TlsPair | null = null;
  private stopped = false;

  constructor(
    private readonly opts: AcmeOptions & { http: { host: string; port: number } },
    stateDir: string,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.domain = checkAcmeDomain(opts.domain);
    this.dir = join(stateDir, 'acme');
  }

  get certificate(): TlsPair | null {
    return this.pair;
  }

  /** Serves HTTP-01, then returns the stored certificate or obtains one (before the HTTPS listener can start). */
  async start(): Promise<TlsPair> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    this.http = createServer((req, res) => {
      const url = req.url ?? '';
      const auth = req.method === 'GET' && url.startsWith(CHALLENGE_PATH) ? this.tokens.get(url.slice(CHALLENGE_PATH.length)) : undefined;
      res.writeHead(auth ? 200 : 404, { 'content-type': 'text/plain' }).end(auth ?? 'not found\n');
    });
    const { host, port } = this.opts.http;
    await new Promise<void>((resolve, reject) => {
      this.http!.once('error', reject).listen(port, host, () => resolve());
    }).catch((err: NodeJS.ErrnoException) => {
      this.http = null;
      throw new AcmeError(`cannot answer HTTP-01 on ${host}:${port} (${err.code ?? err.message}); ports below 1024 need root or CAP_NET_BIND_SERVICE, or pass --acme-http-listen`, { cause: err });
    });
    const stored = await this.stored();
    if (stored && expiry(stored.cert) > this.clock.wallNow()) {
      // Still valid: serve it now; if it is due, the renewal runs (and retries) in the background.
      this.pair = stored;
      this.schedule(renewAt(stored.cert));
      return stored;
    }
    try {
      this.pair = await this.issue();
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.schedule(this.nextRenewal(this.pair.cert));
    return this.pair;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    const http = this.http;
    this.http = null;
    if (http) await new Promise<void>((resolve) => http.close(() => resolve()));
  }

  private paths(): { cert: string; key: string } {
    return { cert: join(this.dir, `${this.domain}.crt`), key: join(this.dir, `${this.domain}.key`) };
  }

  private async stored(): Promise<TlsPair | null> {
    const p = this.paths();
    try {
      const pair = { cert: await readFile(p.cert), key: await readFile(p.key) };
      renewAt(pair.cert); // throws on a damaged file: then we issue anew
      return pair;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ err: (err as Error).message }, 'acme: stored certificate unusable, obtaining a new one');
      return null;
    }
  }

  private accountKey(): Promise<Buffer> {
    return readOrCreateFile(join(this.dir, 'account.key'), () => acme.crypto.createPrivateEcdsaKey());
  }

  /** One RFC 8555 order: account, order, HTTP-01 per authorization, finalize with a CSR, download. */
  private async issue(): Promise<TlsPair> {
    const directoryUrl = this.opts.directoryUrl ?? LETS_ENCRYPT_DIRECTORY;
    try {
      const client = new acme.Client({ directoryUrl, accountKey: await this.accountKey() });
      // Look the key's account up first: "creating" an existing one is an update, and an
      // update without changes is refused (RFC 8555 7.3.2 wants POST-as-GET for that).
      const contact = this.opts.email ? [`mailto:${this.opts.email}`] : undefined;
      const existing = await client.createAccount({ onlyReturnExisting: true }).catch(() => null);
      if (!existing) await client.createAccount({ termsOfServiceAgreed: true, ...(contact ? { contact } : {}) });
      else if (contact && existing.contact?.join() !== contact.join()) await client.updateAccount({ contact });
      const order = await client.createOrder({ identifiers: [{ type: 'dns', value: this.domain }] });
      for (const authz of await client.getAuthorizations(order)) {
        if (authz.status === 'valid') continue;
        const challenge = authz.challenges.find((c) => c.type === 'http-01');
        if (!challenge) throw new AcmeError(`${directoryUrl} offers no http-01 challenge for ${authz.identifier.value}`);
        this.tokens.set(challenge.token, await client.getChallengeKeyAuthorization(challenge));
        try {
          await client.completeChallenge(challenge);
          await client.waitForValidStatus(challenge);
        } finally {
          this.tokens.delete(challenge.token);
        }
      }
      const [key, csr] = await acme.crypto.createCsr({ commonName: this.domain, altNames: [this.domain] }, await acme.crypto.createPrivateEcdsaKey());
      const cert = await client.getCertificate(await client.finalizeOrder(order, csr));
      const pair = { cert: Buffer.from(cert), key };
      const p = this.paths();
      await writeFileAtomic(p.key, key.toString());
      await writeFileAtomic(p.cert, cert);
      this.log.info({ domain: this.domain, validTo: new X509Certificate(cert).validTo }, 'acme: certificate issued');
      return pair;
    } catch (err) {
      if (err instanceof AcmeError) throw err;
      throw new AcmeError(`could not obtain a certificate for ${this.domain} from ${directoryUrl}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** renewAt, but never sooner than an hour: a CA (or a clock) handing out short certificates must not be hammered. */
  private nextRenewal(cert: Buffer): number {
    return Math.max(renewAt(cert), this.clock.wallNow() + RETRY_MS);
  }

  private schedule(atWallMs: number): void {
    if (this.stopped) return;
    const wait = Math.min(Math.max(0, atWallMs - this.clock.wallNow()), MAX_WAIT_MS);
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      if (this.clock.wallNow() < atWallMs) return this.schedule(atWallMs);
      void this.renew();
    }, wait);
  }

  private async renew(): Promise<void> {
    try {
      const pair = await this.issue();
      if (this.stopped) return;
      this.pair = pair;
      this.onRenew?.(pair);
      this.schedule(this.nextRenewal(pair.cert));
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'acme: renewal failed, retrying in an hour');
      this.schedule(this.clock.wallNow() + RETRY_MS);
    }
  }
}
