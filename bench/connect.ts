// Time to connect (issue 19), Weft and wireguard-go interleaved in one run.
//
//   node dist/bench/connect.js [--rounds N]
//
// 1. Up to first ping: a new node (fresh state directory each round) runs `weft up`
//    against the lab coordinator on a LAN bridge, while a loop in its namespace pings a
//    peer that is already up; measured from the spawn of `weft up` to the first reply.
//    The reference is the same for stock WireGuard with its config known in advance:
//    from the spawn of wireguard-go to the first reply, through `wg set`, `ip addr` and
//    `ip link up`, to a wireguard-go peer that is already up.
// 2. First packet with no session: the new node pings a third node it never talked to
//    (Weft: a peer from the netmap; wireguard-go: its peer just removed and added again,
//    so no keypair is left); the first reply's RTT against the median RTT of the
//    established session after it. Goal: within one handshake round trip + 5 ms.
// Root, `ip`, `ping`, `wg` and wireguard-go are needed; every loop is bounded in count and time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { acquireLock } from '../src/lab/lock.js';
import { NetnsMesh } from '../src/lab/mesh.js';
import { execOk, exec, type Lab, sweepStale } from '../src/lab/netns.js';
import { e2eRequired, missingTools, rootReason } from '../src/lab/require.js';
import { genKeyPair, implUnavailable, parsePing, randomIfname, startEngine, WIREGUARD_GO, writeSecret, type Engine, type KeyPair } from '../src/lab/wg-pair.js';
import { fmt, markdownTable, median, runBench } from './common.js';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const ROUNDS = Math.max(1, Math.min(20, Number(args.rounds)));
const log = (s: string): void => void process.stderr.write(s + '\n');
/** A connect that takes longer than this counts as failed (bounds every loop). */
const CONNECT_LIMIT_S = 20;

interface Round {
  upToPingMs: number;
  firstRttMs: number;
  steadyRttMs: number;
}

/** Pings `ip` from `ns` every 10 ms until one reply; ping exits at once while there is no route yet. */
async function pingUntilReply(ns: string, ip: string): Promise<boolean> {
  const loop = `end=$(($(date +%s)+${CONNECT_LIMIT_S})); until ping -n -q -i 0.01 -c 1 -w ${CONNECT_LIMIT_S} ${ip} >/dev/null 2>&1; do [ $(date +%s) -ge $end ] && exit 1; sleep 0.01; done`;
  return (await exec(ns, ['sh', '-c', loop], { timeoutMs: (CONNECT_LIMIT_S + 5) * 1000 })).code === 0;
}

/** The first ping's RTT (no session yet), then the median of 10 on the session it made. */
async function firstAndSteady(ns: string, ip: string): Promise<{ first: number; steady: number }> {
  const first = parsePing((await exec(ns, ['ping', '-n', '-c', '1', '-W', '5', ip], { timeoutMs: 10_000 })).stdout).rttsMs[0] ?? NaN;
  const steady = median(parsePing((await exec(ns, ['ping', '-n', '-c', '10', '-i', '0.05', '-W', '2', ip], { timeoutMs: 10_000 })).stdout).rttsMs);
  return { first, steady };
}

/** Weft: a coordinator, `a` (the peer pinged at once) and `c` (the one never talked to) up. */
async function weftLab(): Promise<{ mesh: NetnsMesh; round: (r: number) => Promise<Round> }> {
  const mesh = new NetnsMesh();
  await mesh.build(['a', 'b', 'c']);
  await mesh.startServer();
  await mesh.createAuthKey();
  await mesh.up('a');
  await mesh.up('c');
  const round = async (r: number): Promise<Round> => {
    const b = mesh.node('b');
    b.stateDir = join(mesh.dir, `b${r}`);
    const t0 = performance.now();
    const [, ok] = await Promise.all([mesh.up('b', ['--hostname', `new${r}`]), pingUntilReply(b.ns, mesh.node('a').ipv4)]);
    const upToPingMs = ok ? performance.now() - t0 : NaN;
    await mesh.waitPeers('b', ['a', 'c'], 10_000).catch(() => {});
    const { first, steady } = await firstAndSteady(b.ns, mesh.node('c').ipv4);
    await mesh.down('b', true);
    return { upToPingMs, firstRttMs: first, steadyRttMs: steady };
  };
  return { mesh, round };
}

/** wireguard-go: `a` and `c` engines up in their namespaces; `b` starts fresh each round. */
/** `tmp` holds the engines' private keys (0600); the caller removes it. */
async function wgLab(lab: Lab, tmp: string): Promise<(r: number) => Promise<Round>> {
  const lan = await lab.addNs();
  await execOk(lan, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
  await execOk(lan, ['ip', 'link', 'set', 'br0', 'up']);
  const hosts = { a: { ns: '', under: '10.78.0.1', tun: '10.79.0.1' }, b: { ns: '', under: '10.78.0.2', tun: '10.79.0.2' }, c: { ns: '', under: '10.78.0.3', tun: '10.79.0.3' } };
  for (const [i, h] of Object.values(hosts).entries()) {
    h.ns = await lab.addNs();
    const link = await lab.veth(h.ns, { v4: `${h.under}/24` }, lan, {}, { a: 'eth0', b: `w${i}` });
    await execOk(lan, ['ip', 'link', 'set', link.ifB, 'master', 'br0']);
  }
  const keyFile = (name: string, k: KeyPair): string => writeSecret(tmp, `${name}.key`, k.privateKey);
  const up = async (ns: string, engine: Engine, key: string, tun: string): Promise<void> => {
    await execOk(ns, ['wg', 'set', engine.ifname, 'listen-port', '51820', 'private-key', key]);
    await execOk(ns, ['ip', 'addr', 'add', `${tun}/24`, 'dev', engine.ifname]);
    await execOk(ns, ['ip', 'link', 'set', engine.ifname, 'up']);
  };
  const keys = { a: await genKeyPair(), c: await genKeyPair() };
  const fixed: Record<'a' | 'c', Engine> = {
    a: await startEngine(lab, hosts.a.ns, WIREGUARD_GO, randomIfname()),
    c: await startEngine(lab, hosts.c.ns, WIREGUARD_GO, randomIfname()),
  };
  for (const n of ['a', 'c'] as const) await up(hosts[n].ns, fixed[n], keyFile(n, keys[n]), hosts[n].tun);
  return async (r: number): Promise<Round> => {
    const kb = await genKeyPair();
    for (const n of ['a', 'c'] as const) await execOk(hosts[n].ns, ['wg', 'set', fixed[n].ifname, 'peer', kb.publicKey, 'allowed-ips', `${hosts.b.tun}/32`]);
    const peerArgs = (n: 'a' | 'c'): string[] => ['peer', keys[n].publicKey, 'endpoint', `${hosts[n].under}:51820`, 'allowed-ips', `${hosts[n].tun}/32`];
    const t0 = performance.now();
    const bring = (async (): Promise<Engine> => {
      const e = await startEngine(lab, hosts.b.ns, WIREGUARD_GO, randomIfname());
      await up(hosts.b.ns, e, keyFile(`b${r}`, kb), hosts.b.tun);
      await execOk(hosts.b.ns, ['wg', 'set', e.ifname, ...peerArgs('a'), ...peerArgs('c')]);
      return e;
    })();
    const [engine, ok] = await Promise.all([bring, pingUntilReply(hosts.b.ns, hosts.a.tun)]);
    const upToPingMs = ok ? performance.now() - t0 : NaN;
    // No session with c: forget the peer (and its keypairs) and configure it again.
    await execOk(hosts.b.ns, ['wg', 'set', engine.ifname, 'peer', keys.c.publicKey, 'remove']);
    await execOk(hosts.b.ns, ['wg', 'set', engine.ifname, ...peerArgs('c')]);
    const { first, steady } = await firstAndSteady(hosts.b.ns, hosts.c.tun);
    await engine.child.kill('SIGTERM', 3000).catch(() => {});
    for (const n of ['a', 'c'] as const) await execOk(hosts[n].ns, ['wg', 'set', fixed[n].ifname, 'peer', kb.publicKey, 'remove']);
    return { upToPingMs, firstRttMs: first, steadyRttMs: steady };
  };
}

async function main(): Promise<number> {
  const skip = rootReason() ?? (missingTools(['ip', 'ping', 'wg']).join(', ') || null) ?? implUnavailable(WIREGUARD_GO);
  if (skip) {
    log(`bench:connect skipped: ${skip}`);
    return e2eRequired() ? 1 : 0;
  }
  const lock = await acquireLock();
  await sweepStale();
  const { mesh, round: weftRound } = await weftLab();
  const tmp = mkdtempSync(join(tmpdir(), 'weft-connect-'));
  try {
    const wgRound = await wgLab(mesh.lab, tmp);
    const rows: Record<'weft' | 'wireguard-go', Round[]> = { weft: [], 'wireguard-go': [] };
    for (let r = 0; r < ROUNDS; r++) {
      // Interleaved, the order alternating, so drift in the machine's load hits both.
      const order = r % 2 === 0 ? (['weft', 'wireguard-go'] as const) : (['wireguard-go', 'weft'] as const);
      for (const impl of order) {
        const x = impl === 'weft' ? await weftRound(r) : await wgRound(r);
        rows[impl].push(x);
        log(`round ${r + 1}/${ROUNDS} ${impl}: up->ping ${fmt(x.upToPingMs)} ms, first packet ${fmt(x.firstRttMs)} ms, steady ${fmt(x.steadyRttMs)} ms`);
      }
    }
    const m = (impl: 'weft' | 'wireguard-go', k: keyof Round): number => median(rows[impl].map((x) => x[k]));
    const extra = (impl: 'weft' | 'wireguard-go'): number => median(rows[impl].map((x) => x.firstRttMs - x.steadyRttMs));
    const line = (label: string, w: number, g: number, goal: string): string[] => [label, fmt(w), fmt(g), fmt(w / g), goal];
    console.log(`\nTime to connect, medians of ${ROUNDS} rounds (ms)\n`);
    for (const l of markdownTable(
      ['', 'weft', 'wireguard-go', 'ratio', 'goal (weft)'],
      [
        line('up -> first ping answered', m('weft', 'upToPingMs'), m('wireguard-go', 'upToPingMs'), '< 1000'),
        line('first packet, no session: RTT', m('weft', 'firstRttMs'), m('wireguard-go', 'firstRttMs'), ''),
        line('established session: RTT', m('weft', 'steadyRttMs'), m('wireguard-go', 'steadyRttMs'), ''),
        line('first minus established', extra('weft'), extra('wireguard-go'), 'handshake RTT + 5'),
      ],
    ))
      console.log(l);
    return 0;
  } finally {
    await mesh.destroy();
    rmSync(tmp, { recursive: true, force: true });
    lock.release();
  }
}

runBench('bench:connect', main);
