// NAT lab measurements (root): for representative pairs, restart both agents and time
//   - first packet: from both agents up until the first ICMP echo reply through the
//     tunnel (system ping every 50 ms; includes the WireGuard handshake, relay or direct);
//   - direct: from both agents up until the agent logs "direct path confirmed" for the
//     peer (null when the pair stays relayed, as expected for EDM<->EDM and UDP-blocked).
// Median of --runs runs. Every wait is bounded. --port-mapping: every router runs
// miniupnpd (UPnP IGD, NAT-PMP, PCP; src/lab/miniupnpd.ts) and the agents map their port.
import { parseArgs } from 'node:util';
import { NAT_LAB_SITES, NatLab, PORTMAP_INET } from '../src/lab/nat-lab.js';
import { sleep } from '../src/lab/netns.js';
import { acquireLock } from '../src/lab/lock.js';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '3' }, 'port-mapping': { type: 'boolean', default: false } } });
const RUNS = Math.max(1, Math.min(10, Number(args.runs)));
const PORT_MAPPING = args['port-mapping'];
const SITES = PORT_MAPPING ? NAT_LAB_SITES.map((s) => ({ ...s, portMapping: true })) : NAT_LAB_SITES;

const PAIRS: [string, string, string][] = [
  ['eim1', 'eim2', 'EIM <-> EIM'],
  ['eim1', 'edm1', 'EIM <-> EDM (birthday)'],
  ['dbl', 'eim2', 'double NAT <-> EIM'],
  ['lan1', 'lan2', 'same LAN'],
  ['edm1', 'edm2', 'EDM <-> EDM'],
  ['blk', 'eim1', 'UDP blocked <-> EIM'],
];

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

async function directAt(lab: NatLab, a: string, peerKey: string, deadline: number): Promise<number | null> {
  const prefix = peerKey.slice(0, 8);
  while (Date.now() < deadline) {
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

async function main(): Promise<void> {
  const lock = await acquireLock('weft-e2e', { onWait: (pid) => process.stderr.write(`waiting for the e2e lock (pid ${pid})\n`) });
  const lab = PORT_MAPPING ? new NatLab({ inet: PORTMAP_INET }) : new NatLab();
  lab.env.LOG_LEVEL = 'info';
  const rows: string[] = [];
  try {
    await lab.build(SITES);
    await lab.startServer();
    await lab.createAuthKey();
    const names = SITES.flatMap((s) => s.nodes);
    for (const n of names) await lab.up(n);
    for (const n of names) await lab.waitPeers(n, names.length - 1);
    const keys = new Map((await lab.status('eim1')).peers.map((p) => [p.name, p.publicKey]));
    keys.set('eim1', (await lab.status('eim2')).peers.find((p) => p.name === 'eim1')!.publicKey);
    for (const [a, b, label] of PAIRS) {
      const ttfp: number[] = [];
      const ttd: number[] = [];
      let relayed = 0;
      for (let run = 0; run < RUNS; run++) {
        await lab.down(a);
        await lab.down(b);
        await Promise.all([lab.up(a), lab.up(b)]);
        const t0 = Math.max(lab.node(a).upAt, lab.node(b).upAt);
        const fp = await firstPacket(lab, a, b, t0);
        if (fp !== null) ttfp.push(fp);
        const expectRelay = (label.includes('EDM <-> EDM') && !PORT_MAPPING) || label.includes('blocked');
        const d = await directAt(lab, a, keys.get(b)!, Date.now() + (expectRelay ? 6000 : 25_000));
        if (d !== null) ttd.push(d - t0);
        else relayed++;
      }
      const row = `| ${label} | ${a} -> ${b} | ${median(ttfp) ?? 'n/a'} | ${ttd.length ? median(ttd) : `relay (${relayed}/${RUNS})`} | ${ttfp.join(', ')} | ${ttd.join(', ')} |`;
      rows.push(row);
      process.stdout.write(row + '\n');
    }
  } finally {
    await lab.destroy();
    lock.release();
  }
  process.stdout.write(['', `| pair | nodes | first packet, median ms | direct, median ms | first packet runs | direct runs |`, '|---|---|---|---|---|---|', ...rows].join('\n') + '\n');
}

await main();
