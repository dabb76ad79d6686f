// Let's Encrypt's ACME test server (Debian `pebble`) for the ACME tests: pebble with its
// own throw-away CA, and pebble-challtestsrv as the DNS server it validates against, which
// answers every A query with `targetIp` (where the client under test serves HTTP-01).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Child, ExecResult } from './netns.js';
import { runOk } from './netns.js';

export const PEBBLE_TOOLS = ['pebble', 'pebble-challtestsrv', 'openssl', 'curl'];

export interface PebbleOptions {
  /** Scratch directory for config and the WFE's TLS key. */
  dir: string;
  /** Address pebble and its DNS listen on. */
  ip: string;
  /** Every name pebble validates resolves to this address. */
  targetIp: string;
  /** Port pebble connects to for HTTP-01 (80 in the real world). */
  httpPort: number;
  /** Ports for the ACME API, management API and DNS. */
  ports?: { acme: number; management: number; dns: number };
  /** Starts a long-lived command (on the host or inside a namespace). */
  spawn(argv: string[], env: NodeJS.ProcessEnv): Child;
  /** Runs a short command in the same place. */
  exec(argv: string[]): Promise<ExecResult>;
}

export interface Pebble {
  directoryUrl: string;
  /** PEM of the self-signed certificate of pebble's own HTTPS API (trust it via NODE_EXTRA_CA_CERTS). */
  apiCertFile: string;
  /** PEM of the root that issued certificates chain to. */
  rootPem(): Promise<string>;
}

export async function startPebble(o: PebbleOptions): Promise<Pebble> {
  const ports = o.ports ?? { acme: 14000, management: 15000, dns: 8053 };
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const apiCertFile = join(o.dir, 'pebble-api.pem');
  const keyFile = join(o.dir, 'pebble-api.key');
  await runOk(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-keyout', keyFile, '-out', apiCertFile, '-subj', '/CN=pebble', '-addext', `subjectAltName=IP:${o.ip}`]);
  const config = join(o.dir, 'pebble.json');
  writeFileSync(config, JSON.stringify({
    pebble: {
      listenAddress: `${o.ip}:${ports.acme}`,
      managementListenAddress: `${o.ip}:${ports.management}`,
      certificate: apiCertFile,
      privateKey: keyFile,
      httpPort: o.httpPort,
      tlsPort: 5001,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
    },
  }));
  const dns = `${o.ip}:${ports.dns}`;
  const chall = o.spawn(['pebble-challtestsrv', '-dns01', dns, '-http01', '', '-https01', '', '-tlsalpn01', '',
    '-management', `${o.ip}:${ports.dns + 2}`, '-defaultIPv4', o.targetIp, '-defaultIPv6', ''], process.env);
  // Nonce rejection stays at pebble's default (5%): clients must retry badNonce.
  const pebble = o.spawn(['pebble', '-config', config, '-dnsserver', dns], { ...process.env, PEBBLE_VA_NOSLEEP: '1' });
  await pebble.waitFor(/Listening on/, 20_000, 'stdout');
  if (!chall.running) throw new Error(`pebble-challtestsrv exited: ${chall.stderr}${chall.stdout}`);
  const mgmt = `https://${o.ip}:${ports.management}`;
  return {
    directoryUrl: `https://${o.ip}:${ports.acme}/dir`,
    apiCertFile,
    async rootPem() {
      const r = await o.exec(['curl', '-sS', '--cacert', apiCertFile, `${mgmt}/roots/0`]);
      if (r.code !== 0) throw new Error(`pebble root: ${r.stderr}`);
      return r.stdout;
    },
  };
}
