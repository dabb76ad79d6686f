// NAT lab measurements (root): for representative pairs, restart both agents and time
//   - first packet: from both agents up until the first ICMP echo reply through the
//     tunnel (system ping every 50 ms; includes the WireGuard handshake, relay or direct);
//   - direct: from both agents up until the agent logs "direct path confirmed" for the
//     peer (relay when it does not within --direct-timeout, or 6 s for pairs that stay
//     relayed by design: EDM<->EDM without port mapping, UDP blocked).
// Median of --runs runs; each run gives both agents fresh UDP ports (--port), so conntrack
// entries the previous run left on the routers (an open path, or poison) play no part.
// Open routers without port mapping go direct through the open-router punch, which waits
// past the UDP conntrack timeout: give them --direct-timeout 160. Every wait is bounded. --configs picks the labs, one after the
// other (comma-separated; default home):
//   home      routers drop unsolicited UDP to themselves (a home router's firewall)
//   open      plain Linux routers that accept it (`open: true`, docs/NAT.md)
//   home-pm, open-pm   the same with miniupnpd on every router (UPnP IGD, NAT-PMP, PCP;
//             src/lab/miniupnpd.ts), the agents map their port
//   ipv6      two EDM sites with global IPv6 behind stateful firewalls (no NAT)
import { parseArgs } from 'node:util';
import { NAT_LAB_SITES, NatLab, PORTMAP_INET, type SiteSpec } from '../src/lab/nat-lab.js';
import { sleep } from '../src/lab/netns.js';
import { acquireLock } from '../src/lab/lock.js';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '3' }, configs: { type: 'string', default: 'home' }, 'direct-timeout': { type: 'string', default: '25' }, pairs: { type: 'string', default: '' } } });
/** --pairs eim1-eim2,dbl-eim2: only these pairs (default all). */
const ONLY = new Set(args.pairs.split(',').filter(Boolean));
const RUNS = Math.max(1, Math.min(10, Number(args.runs)));
const DIRECT_TIMEOUT_MS = Math.max(5, Math.min(400, Number(args['direct-timeout']))) * 1000;

type Pair = [string, string, string];
const PAIRS: Pair[] = [
  ['eim1', 'eim2', 'EIM <-> EIM'],
  ['eim1', 'edm1', 'EIM <-> EDM'],
  ['dbl', 'eim2', 'double NAT <-> EIM'],
  ['lan1', 'lan2', 'same LAN'],
  ['edm1', 'edm2', 'EDM <-> EDM'],
  ['blk', 'eim1', 'UDP blocked <-> EIM'],
];

interface Config {
  sites: SiteSpec[];
  pairs: Pair[];
  portMapping: boolean;
}

const CONFIGS: Record<string, Config> = {
  home: { sites: NAT_LAB_SITES, pairs: PAIRS, portMapping: false },
  'home-pm': { sites: NAT_LAB_SITES.map((s) => ({ ...s, portMapping: true })), pairs: PAIRS, portMapping: true },
  open: { sites: NAT_LAB_SITES.map((s) => ({ ...s, open: true })), pairs: PAIRS, portMapping: false },
  'open-pm': { sites: NAT_LAB_SITES.map((s) => ({ ...s, open: true, portMapping: true })), pairs: PAIRS, portMapping: true },
  ipv6: {
    sites: [
      { name: 'v6A', kind: 'edm', nodes: ['v6a'], ipv6: true },
      { name: 'v6B', kind: 'edm', nodes: ['v6b'], ipv6: true },
    ],
    pairs: [['v6a', 'v6b', 'EDM <-> EDM, global IPv6 on both']],
    portMapping: false,
  },
};

const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
};

async function firstPacket(lab: NatLab, a: string, b: string, t0: number): Promise<number | null> {
  const r = await lab.lab.exec(lab.node(a).ns, ['ping', '-n', '-D', '-i', '0.05', '-c', '1', '-w', '15', lab.node(b).ipv4], { timeoutMs: 20_000 });
  const m = /^\[(\d+\.\d+)\] \d+ bytes from/m.exec(r.stdout);
  return m ? Math.round(Number(m[1]) * 1000 - t0) : null;
}

/** When `a` logs a direct path to the peer; `a` pings `b` every second meanwhile (a pair with traffic: an idle one is not probed). */
async function directAt(lab: NatLab, a: string, b: string, peerKey: string, deadline: number): Promise<number | null> {
  const prefix = peerKey.slice(0, 8);
  let lastPing = 0;
  while (Date.now() < deadline) {
    if (Date.now() - lastPing >= 1000) {
      lastPing = Date.now();
      void lab.ping(a, lab.node(b).ipv4, 1, 0.2).catch(() => {});
    }
    for (const line of (lab.node(a).agent?.stderr ?? '').split('\n')) {
      if (!line.includes('direct path confirmed') || !line.includes(prefix)) continue;
      try {
        const { time } = JSON.parse(line) as { time: number | string };
        return typeof time === 'number' ? time : Date.parse(time); // the logger writes ISO times
      } catch {
        /* partial line */
      }
    }
    await sleep(100);
  }
  return null;
}

async function measure(name: string, cfg: Config): Promise<string[]> {
  const lab = cfg.portMapping ? new NatLab({ inet: PORTMAP_INET }) : new NatLab();
  lab.env.LOG_LEVEL = 'info';
  const rows: string[] = [];
  try {
    await lab.build(cfg.sites);
    await lab.startServer();
    await lab.createAuthKey();
    const names = cfg.sites.flatMap((s) => s.nodes);
    for (const n of names) await lab.up(n);
    for (const n of names) await lab.waitPeers(n, names.length - 1);
    const keys = new Map<string, string>();
    for (const n of names.slice(0, 2)) for (const p of (await lab.status(n)).peers) keys.set(p.name, p.publicKey);
    for (const [a, b, label] of cfg.pairs) {
      if (ONLY.size > 0 && !ONLY.has(`${a}-${b}`)) continue;
      const ttfp: number[] = [];
      const ttd: number[] = [];
      let relayed = 0;
      for (let run = 0; run < RUNS; run++) {
        await lab.down(a);
        await lab.down(b);
        const port = 20_000 + ((run * 2 + Math.floor(Date.now() / 1000)) % 20_000) * 2;
        await Promise.all([lab.up(a, ['--port', String(port)]), lab.up(b, ['--port', String(port + 1)])]);
        const t0 = Math.max(lab.node(a).upAt, lab.node(b).upAt);
        const fp = await firstPacket(lab, a, b, t0);
        if (fp !== null) ttfp.push(fp);
        const expectRelay = (label === 'EDM <-> EDM' && !cfg.portMapping) || label.includes('blocked');
        const d = await directAt(lab, a, b, keys.get(b)!, Date.now() + (expectRelay ? 6000 : DIRECT_TIMEOUT_MS));
        if (d !== null) ttd.push(d - t0);
        else relayed++;
        // How the open-router punch went, for the record (stderr).
        for (const n of [a, b]) for (const l of (lab.node(n).agent?.stderr ?? '').split('\n')) if (l.includes('open-router punch')) process.stderr.write(`${n} ${l}\n`);
      }
      const row = `| ${name} | ${label} | ${a} -> ${b} | ${median(ttfp) ?? 'n/a'} | ${ttd.length ? median(ttd) : 'relay'}${relayed && ttd.length ? ` (relay ${relayed}/${RUNS})` : ''} | ${ttfp.join(', ')} | ${ttd.join(', ') || '—'} |`;
      rows.push(row);
      process.stdout.write(row + '\n');
    }
  } finally {
    await lab.destroy();
  }
  return rows;
}

async function main(): Promise<void> {
  const names = args.configs.split(',').map((c) => c.trim());
  for (const n of names) if (!CONFIGS[n]) throw new Error(`unknown config ${n} (${Object.keys(CONFIGS).join(', ')})`);
  const lock = await acquireLock('weft-e2e', { onWait: (pid) => process.stderr.write(`waiting for the e2e lock (pid ${pid})\n`) });
  const rows: string[] = [];
  try {
    for (const n of names) rows.push(...(await measure(n, CONFIGS[n])));
  } finally {
    lock.release();
  }
  process.stdout.write(['', `| lab | pair | nodes | first packet, median ms | direct, median ms | first packet runs | direct runs |`, '|---|---|---|---|---|---|---|', ...rows].join('\n') + '\n');
}

await main();
