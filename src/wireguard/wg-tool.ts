import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UapiError, type UapiDeviceChange, type UapiDeviceSnapshot, type UapiPeerSnapshot } from './uapi.js';

// The kernel engine's configuration channel: `wg` (wireguard-tools, which talks netlink
// to the module) as a get/set pair with the same snapshot and change types as the UAPI
// client, so the declarative diff (config.ts uapiChangeFor) drives both. `wg set` takes
// keys as file names (and cannot open Node's stdio, which are sockets): they go in files
// of a private directory (0700, files 0600; in /dev/shm where it exists, so in memory)
// removed when wg exits, never on the command line.

const TIMEOUT_MS = 5_000;
const MAX_OUTPUT = 16 << 20;

const b64 = (k: Uint8Array): string => Buffer.from(k).toString('base64');
const isZero = (k: Uint8Array): boolean => k.every((b) => b === 0);

/** `wg set IFACE ...` for `change`; wg reads `secrets[i]` from the file `keyFile(i)`. */
export function wgSetCommand(ifname: string, c: UapiDeviceChange, keyFile: (i: number) => string): { args: string[]; secrets: string[] } {
  if (c.replacePeers) throw new UapiError('ERR_UAPI_PROTO', 'wg set cannot replace all peers: list them as removals');
  const args = ['set', ifname];
  const secrets: string[] = [];
  const secret = (k: Uint8Array): string => {
    secrets.push(isZero(k) ? '' : `${b64(k)}\n`);
    return keyFile(secrets.length - 1);
  };
  if (c.listenPort !== undefined) args.push('listen-port', String(c.listenPort));
  if (c.fwmark !== undefined) args.push('fwmark', c.fwmark === 0 ? 'off' : String(c.fwmark));
  if (c.privateKey) args.push('private-key', secret(c.privateKey));
  for (const p of c.peers) {
    args.push('peer', b64(p.publicKey));
    if (p.remove) {
      args.push('remove');
      continue;
    }
    if (p.presharedKey) args.push('preshared-key', secret(p.presharedKey));
    if (p.endpoint !== undefined) args.push('endpoint', p.endpoint);
    if (p.persistentKeepalive !== undefined) args.push('persistent-keepalive', p.persistentKeepalive === 0 ? 'off' : String(p.persistentKeepalive));
    // wg set's allowed-ips replaces the list: additions and removals become the new list.
    if (p.removeAllowedIps.length > 0) throw new UapiError('ERR_UAPI_PROTO', 'wg set cannot remove single allowed IPs: replace the list');
    if (p.replaceAllowedIps || p.addAllowedIps.length > 0) args.push('allowed-ips', p.addAllowedIps.join(','));
  }
  return { args, secrets };
}

const key = (s: string): Uint8Array | null => {
  if (s === '(none)') return null;
  const b = Buffer.from(s, 'base64');
  if (b.length !== 32 || b.toString('base64') !== s) throw new UapiError('ERR_UAPI_PROTO', 'malformed key in wg show dump');
  return Uint8Array.from(b);
};
const num = (s: string): number => {
  if (s === 'off' || s === '(none)') return 0;
  if (/^0x[0-9a-f]{1,8}$/i.test(s)) return Number(s); // wg prints the fwmark in hex
  if (!/^\d+$/.test(s)) throw new UapiError('ERR_UAPI_PROTO', `malformed number in wg show dump: ${JSON.stringify(s)}`);
  return Number(s);
};

/** Parses `wg show IFACE dump` (tab-separated: the interface, then one line per peer). */
export function parseWgDump(text: string): UapiDeviceSnapshot {
  const lines = text.split('\n').filter((l) => l !== '');
  const head = lines.shift()?.split('\t');
  if (!head || head.length !== 4) throw new UapiError('ERR_UAPI_PROTO', 'wg show dump without its interface line');
  const peers: UapiPeerSnapshot[] = lines.map((l) => {
    const f = l.split('\t');
    if (f.length !== 8) throw new UapiError('ERR_UAPI_PROTO', 'malformed peer line in wg show dump');
    const publicKey = key(f[0]);
    if (!publicKey) throw new UapiError('ERR_UAPI_PROTO', 'peer without a key in wg show dump');
    return {
      publicKey,
      presharedKey: key(f[1]),
      endpoint: f[2] === '(none)' ? null : f[2],
      allowedIps: f[3] === '(none)' ? [] : f[3].split(','),
      lastHandshakeMs: num(f[4]) * 1000,
      rxBytes: BigInt(num(f[5])),
      txBytes: BigInt(num(f[6])),
      persistentKeepalive: num(f[7]),
    };
  });
  return { privateKey: key(head[0]), listenPort: num(head[2]), fwmark: num(head[3]), peers };
}

/** Runs `wg` for one interface. */
export class WgTool {
  constructor(
    readonly ifname: string,
    private readonly binary = 'wg',
  ) {}

  async get(): Promise<UapiDeviceSnapshot> {
    return parseWgDump(await this.run(['show', this.ifname, 'dump']));
  }

  async set(change: UapiDeviceChange): Promise<void> {
    const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'weft-wg-'));
    try {
      const { args, secrets } = wgSetCommand(this.ifname, change, (i) => join(dir, `key${i}`));
      secrets.forEach((s, i) => writeFileSync(join(dir, `key${i}`), s, { mode: 0o600 }));
      await this.run(args);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  private run(args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
      child.stdout?.on('data', (d: Buffer) => (out.length < MAX_OUTPUT ? (out += d.toString('utf8')) : undefined));
      child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString('utf8')).slice(-2000)));
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new UapiError('ERR_UAPI_IO', `${this.binary}: ${e.message}`, { cause: e }));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        if (code === 0) resolve(out);
        else reject(new UapiError('ERR_UAPI_IO', `${this.binary} ${args.slice(0, 2).join(' ')} failed (${code}): ${err.trim()}`));
      });
    });
  }
}
