// The control bench's load phase: a mix of changes at a fixed rate (endpoint changes,
// joins, leaves, and a policy edit every POLICY_EVERY_MS) against a coordinator whose
// policy splits the nodes into teams that see only each other. Each change names the
// peers it must reach; every delivery is timed from the change's submission to the
// message that carries it. Bounded by count (rate x seconds) and by time.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { AdminClient } from '../src/control/admin-client.js';
import { type ServerMessage } from '../src/wire/control.js';
import { CONTROL_PROTOCOL_VERSION } from '../src/wire/version.js';
import { SimNode, type MapClient } from '../test/helpers/control.js';

export const TEAM = 50;
export const POLICY_EVERY_MS = 10_000;
/** How long a change's deliveries may take before they count as missing. */
const DELIVERY_TIMEOUT_MS = 15_000;

/** One team per tag: each team reaches only itself; team 0's ports move with every policy edit. */
export function teamPolicy(teams: number, edit: number): string {
  const tagOwners: Record<string, string[]> = {};
  const acls = [];
  for (let t = 0; t < teams; t++) {
    tagOwners[`tag:team${t}`] = [];
    acls.push({ action: 'accept', src: [`tag:team${t}`], dst: [`tag:team${t}:${t === 0 ? 22 + (edit % 1000) : '*'}`] });
  }
  return JSON.stringify({ tagOwners, acls });
}

export interface Member {
  node: SimNode;
  team: number;
  map: MapClient;
}

export interface LoadResult {
  changes: number;
  latencies: number[];
  missing: number;
  /** Missing deliveries by what they were to carry (up, rm, ep, pf). */
  missingKinds: Record<string, number>;
  bytes: number;
  policyErrors: number;
  /** This client process's own event-loop delay p99 (ms): a starved client delays what it times. */
  clientLagP99: number;
}

/** What a client process knows: the coordinator, the team keys, and which teams are its own. */
export interface Ctx {
  serverUrl: string;
  serverKey: string;
  /** Set in the one process that owns team 0: it makes the policy edits. */
  admin: AdminClient | null;
  teamKeys: string[];
  teams: number;
  /** The teams whose members live in this process: every change's recipients are local. */
  own: number[];
}

export async function join(ctx: Ctx, team: number): Promise<Member> {
  const node = new SimNode(ctx.serverUrl, ctx.serverKey);
  const r = await node.register({ hostname: `t${team}`, authKey: ctx.teamKeys[team], endpoints: ['192.0.2.1:41641'] });
  if (r.status !== 200) throw new Error(`register: ${r.status} ${JSON.stringify(r.json)}`);
  const map = await node.openMap(CONTROL_PROTOCOL_VERSION);
  await map.waitFor((x) => x.type === 'full', 60_000);
  return { node, team, map };
}

/**
 * Runs `rate` changes a second for `seconds` over `members` (mutated: joins and leaves).
 * Expectations are keyed `recipient|what`; each message a member gets settles the ones it carries.
 */
export async function runLoad(ctx: Ctx, members: Member[], rate: number, seconds: number): Promise<LoadResult> {
  const pending = new Map<string, number>();
  /**
   * Per node, its last few endpoint changes, oldest first. The coordinator folds one
   * stream's deltas within a turn (stream-outbox.ts), so a change can arrive superseded:
   * a later endpoint of the node, or its removal, settles the earlier changes too.
   */
  const epHistory = new Map<string, string[]>();
  const settleEps = (me: string, node: string, upTo: string | null, now: number): void => {
    const h = epHistory.get(node) ?? [];
    const last = upTo === null ? h.length - 1 : h.indexOf(upTo);
    for (let j = 0; j <= last; j++) settle(`${me}|ep|${node}|${h[j]}`, now);
  };
  const latencies: number[] = [];
  let bytes = 0;
  const settle = (k: string, now: number): void => {
    const t = pending.get(k);
    if (t === undefined) return;
    latencies.push(now - t);
    pending.delete(k);
  };
  const watch = (m: Member): void => {
    const me = m.node.publicKey;
    m.map.messages.length = 0;
    m.map.ws.on('message', (data: Buffer) => (bytes += data.length));
    m.map.onMessage = (msg: ServerMessage) => {
      m.map.messages.length = 0;
      if (msg.type !== 'delta') return;
      const now = performance.now();
      for (const u of msg.upserts) {
        settle(`${me}|up|${u.publicKey}`, now);
        settleEps(me, u.publicKey, u.endpoints[0], now);
      }
      for (const k of msg.removals) {
        settle(`${me}|rm|${k}`, now);
        settleEps(me, k, null, now);
      }
      if (msg.packetFilter) settle(`${me}|pf`, now);
    };
  };
  members.forEach(watch);
  const expect = (team: number, except: string, what: string, at: number): void => {
    for (const m of members) if (m.team === team && m.node.publicKey !== except) pending.set(`${m.node.publicKey}|${what}`, at);
  };

  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const total = Math.round(rate * seconds);
  const started = performance.now();
  let policyEdits = 0, policyErrors = 0, lastPolicy = started, mover = 0, changes = 0;
  const inflight: Promise<void>[] = [];
  for (let c = 0; c < total && performance.now() - started < seconds * 2000; c++) {
    const due = started + (c * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const at = performance.now();
    changes++;
    if (ctx.admin && at - lastPolicy >= POLICY_EVERY_MS) {
      lastPolicy = at;
      expect(0, '', 'pf', at);
      // A failed edit is counted (its deliveries then show as missing), not fatal.
      inflight.push(ctx.admin.request('PUT', '/api/v1/admin/policy', { policy: teamPolicy(ctx.teams, ++policyEdits) }).then(() => {}, () => void policyErrors++));
      continue;
    }
    const kind = c % 10;
    if (kind === 1) {
      // Join: its team hears of it.
      const team = ctx.own[c % ctx.own.length];
      const node = new SimNode(ctx.serverUrl, ctx.serverKey);
      expect(team, node.publicKey, `up|${node.publicKey}`, at);
      inflight.push(
        node.register({ hostname: `t${team}`, authKey: ctx.teamKeys[team], endpoints: ['192.0.2.1:41641'] }).then(async () => {
          const map = await node.openMap(CONTROL_PROTOCOL_VERSION);
          await map.waitFor((x) => x.type === 'full', 60_000);
          const m = { node, team, map };
          watch(m);
          members.push(m);
        }),
      );
    } else if (kind === 2 && members.length > 1) {
      // Leave: its team hears it is gone; nothing is expected of it any more.
      const m = members.splice((c * 7919) % members.length, 1)[0];
      for (const k of pending.keys()) if (k.startsWith(`${m.node.publicKey}|`)) pending.delete(k);
      expect(m.team, m.node.publicKey, `rm|${m.node.publicKey}`, at);
      inflight.push(m.node.logout().then(() => m.map.close()));
    } else {
      // Endpoint change, round robin so no node is rate limited by the coordinator.
      const m = members[mover++ % members.length];
      const ep = `198.51.100.${(c % 250) + 1}:${10000 + (c % 50000)}`;
      expect(m.team, m.node.publicKey, `ep|${m.node.publicKey}|${ep}`, at);
      epHistory.set(m.node.publicKey, [...(epHistory.get(m.node.publicKey) ?? []), ep].slice(-4));
      m.map.send({ type: 'endpoints', endpoints: [ep] });
    }
  }
  await Promise.all(inflight);
  const deadline = performance.now() + DELIVERY_TIMEOUT_MS;
  while (pending.size > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const missingKinds: Record<string, number> = {};
  for (const k of pending.keys()) {
    const kind = k.split('|')[1];
    missingKinds[kind] = (missingKinds[kind] ?? 0) + 1;
  }
  lag.disable();
  return { changes, latencies, missing: pending.size, missingKinds, bytes, policyErrors, clientLagP99: lag.percentile(99) / 1e6 };
}
