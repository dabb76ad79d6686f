// One client process of the control bench (bench/control.ts forks several): it
// registers its share of the simulated nodes, holds their map streams, runs its share of
// the change load and reports the deliveries it timed. Whole teams live in one process,
// so every change's recipients are local and latencies are measured on one clock; the
// process that owns team 0 makes the policy edits.
import { AdminClient } from '../src/control/admin-client.js';
import { join, runLoad, type Ctx, type LoadResult, type Member } from './control-load.js';
import { pool } from './sim.js';

/** Streams opened at once per process: the registration writes are fsync-bound. */
const CONCURRENCY = 50;

export interface WorkerSetup {
  serverUrl: string;
  serverKey: string;
  /** The coordinator's admin socket, for the process that owns team 0. */
  adminSocket: string | null;
  teamKeys: string[];
  teams: number;
  own: number[];
  /** Team of each member this process registers. */
  memberTeams: number[];
}

export type ToWorker = { type: 'setup'; setup: WorkerSetup } | { type: 'load'; rate: number; seconds: number; startAt: number } | { type: 'close' };
export type FromWorker = { type: 'joined'; count: number } | { type: 'progress'; count: number } | { type: 'result'; result: LoadResult } | { type: 'failed'; error: string };

let ctx: Ctx | null = null;
let members: Member[] = [];

const reply = (m: FromWorker): void => void process.send!(m);

async function handle(m: ToWorker): Promise<void> {
  if (m.type === 'setup') {
    const s = m.setup;
    ctx = { serverUrl: s.serverUrl, serverKey: s.serverKey, admin: s.adminSocket ? new AdminClient({ socketPath: s.adminSocket }) : null, teamKeys: s.teamKeys, teams: s.teams, own: s.own };
    members = new Array(s.memberTeams.length);
    let done = 0;
    await pool(s.memberTeams.map((team, i) => ({ team, i })), CONCURRENCY, async ({ team, i }) => {
      members[i] = await join(ctx!, team);
      if (++done % 500 === 0) reply({ type: 'progress', count: done });
    });
    reply({ type: 'joined', count: members.length });
  } else if (m.type === 'load') {
    const wait = m.startAt - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    reply({ type: 'result', result: await runLoad(ctx!, members, m.rate, m.seconds) });
  } else {
    await Promise.all(members.map((x) => x.map.close()));
    process.exit(0);
  }
}

process.on('message', (m: ToWorker) => {
  handle(m).catch((err: Error) => {
    reply({ type: 'failed', error: err.stack ?? String(err) });
    process.exit(1);
  });
});
