// Helpers shared by the benchmarks: process CPU accounting from /proc, statistics,
// iperf3 / ping inside a namespace (bounded in time) and the Markdown result table.
import { readdirSync, readFileSync } from 'node:fs';
import { Child, exec, type Lab } from '../src/lab/netns.js';
import { parsePing } from '../src/lab/wg-pair.js';

const CLK_TCK = 100; // Linux USER_HZ on every supported architecture

/** The pid and all its descendants (an engine may use helper processes). */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length && out.length < 256; i++) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const kids = readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean);
        for (const c of kids) out.push(Number(c));
      } catch {
        /* gone */
      }
    }
  }
  return out;
}

/** CPU seconds (user + system, all threads) of an engine and its descendants. */
/** The machine's CPU time so far (/proc/stat, all CPUs, in clock ticks): busy and total. */
export function machineCpu(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - f[4], total }; // idle and iowait
}

/** The share of the machine's CPUs (percent) that was busy between two machineCpu() readings. */
export function busyPct(a: { busy: number; total: number }, b: { busy: number; total: number }): number {
  return b.total > a.total ? (100 * (b.busy - a.busy)) / (b.total - a.total) : NaN;
}

export function cpuSeconds(pid: number): number {
  return processTree(pid).reduce((sum, p) => {
    try {
      return sum + cpuSecondsOne(p);
    } catch {
      return sum;
    }
  }, 0);
}

function cpuSecondsOne(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

export { quantile } from '../src/lab/stats.js';

/** Median of the finite values (mean of the middle two for an even count); NaN if none. */
export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x));
  if (!v.length) return NaN;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface IperfJson {
  error?: string;
  end?: {
    sum_received?: { bytes: number; bits_per_second: number; seconds: number };
    sum?: { packets?: number; lost_packets?: number; lost_percent?: number; seconds?: number; bytes?: number };
  };
}

/** `iperf3 -c target -J -t seconds ARGV` in `ns`, killed 25 s after it should have ended. */
export async function iperfClient(ns: string, target: string, argv: string[], seconds: number, port = 5201): Promise<IperfJson> {
  const r = await exec(ns, ['iperf3', '-c', target, '-p', String(port), '-J', '-t', String(seconds), ...argv], {
    timeoutMs: (seconds + 25) * 1000,
  });
  let j: IperfJson;
  try {
    j = JSON.parse(r.stdout) as IperfJson;
  } catch {
    throw new Error(`iperf3 ${argv.join(' ')}: no JSON (code ${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stderr.slice(-500)}`);
  }
  if (j.error) throw new Error(`iperf3 ${argv.join(' ')}: ${j.error}`);
  return j;
}

/** Datagrams received per second (thousands) and iperf3's loss of a UDP run. */
export function udpStats(j: IperfJson): { kpps: number; lossPct: number } {
  const s = j.end?.sum;
  if (!s?.packets || !s.seconds) throw new Error('iperf3 UDP: no sum');
  const got = s.packets - (s.lost_packets ?? 0);
  return { kpps: got / s.seconds / 1000, lossPct: s.lost_percent ?? NaN };
}

/** An iperf3 server in `ns` bound to `ip:port`; the lab kills it on destroy. */
export async function startIperfServer(lab: Lab, ns: string, ip: string, port: number): Promise<Child> {
  const s = lab.spawn(ns, ['iperf3', '-s', '--forceflush', '-B', ip, '-p', String(port)]);
  await s.waitFor(/Server listening/, 10_000);
  return s;
}

/** `count` pings 10 ms apart from `ns` to `target`; the RTTs, or throws when under half came back. */
export async function pingRtts(ns: string, target: string, count: number): Promise<number[]> {
  const r = await exec(ns, ['ping', '-4', '-n', '-c', String(count), '-i', '0.01', '-W', '1', '-w', String(Math.ceil(count / 100) + 5), target], {
    timeoutMs: (count / 100 + 15) * 1000,
  });
  const res = parsePing(r.stdout);
  if (res.rttsMs.length < count / 2) throw new Error(`ping: only ${res.rttsMs.length}/${count} replies`);
  return res.rttsMs;
}

/** The value after `--name` on the command line, else `dflt`. */
export function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}

export function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return 'n/a';
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(3);
}

/** A Markdown table, first column left-aligned and the others right-aligned. */
export function markdownTable(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
  return [line(header), '|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|', ...rows.map(line)];
}

/** Runs a bench's main and exits with its code; a throw is printed as `<name> failed`. */
export function runBench(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`${name} failed: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
