// Runs the UDP load generator (src/lab/agents/udpgen.js) between two namespaces for the
// data-plane bench: the receiver in `toNs` bound to the target's port, the sender in
// `fromNs`, both bounded in time; and the bare veth (no tunnel) that gives the ceiling
// of the generator and of iperf3 on this machine.
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { exec, Lab, sleep } from '../src/lab/netns.js';
import { genPayloadFor, genResult, parseGenReport, type GenRecvReport, type GenResult, type GenSendReport } from '../src/lab/udpgen.js';

const AGENT = fileURLToPath(new URL('../src/lab/agents/udpgen.js', import.meta.url));

export interface UdpgenSpec {
  fromNs: string;
  toNs: string;
  /** IPv4 address in toNs that the sender aims at (a tunnel address, or the veth's). */
  target: string;
  /** Inner IP packet size (payload = size - 28, as iperf3 `-l`). */
  ipBytes: number;
  seconds: number;
  port?: number;
  /** Datagrams per second; 0 (default) = as fast as the kernel takes them. */
  rate?: number;
  /** Receive without UDP_GRO (every datagram its own read), default false. */
  noGro?: boolean;
}

export interface UdpgenRun extends GenResult {
  send: GenSendReport;
  recv: GenRecvReport;
}

/** One sender/receiver run; throws when either side did not report. */
export async function udpgen(lab: Lab, spec: UdpgenSpec): Promise<UdpgenRun> {
  const run = randomInt(1, 2 ** 31);
  const port = spec.port ?? 5301;
  const ms = Math.round(spec.seconds * 1000);
  const rx = lab.spawn(spec.toNs, [process.execPath, AGENT, 'recv', String(port), String(run), String(ms + 20_000), ...(spec.noGro ? ['nogro'] : [])], { stdin: true });
  try {
    await rx.waitFor(/"ready":true/, 10_000);
    const argv = [process.execPath, AGENT, 'send', spec.target, String(port), String(genPayloadFor(spec.ipBytes)), String(ms), String(run)];
    if (spec.rate) argv.push('100000000', String(spec.rate));
    const tx = await exec(spec.fromNs, argv, { timeoutMs: ms + 15_000 });
    const send = parseGenReport(tx.stdout, 'send');
    if (!send) throw new Error(`udpgen send: no report (code ${tx.code}${tx.timedOut ? ', timed out' : ''}): ${tx.stderr.slice(-500)}`);
    await sleep(300); // what is still in the engines' queues arrives (or is lost) now
    rx.proc.stdin?.end();
    await rx.wait(5000);
    const recv = parseGenReport(rx.stdout, 'recv');
    if (!recv) throw new Error(`udpgen recv: no report (${JSON.stringify(rx.exit)}): ${rx.stderr.slice(-500)}`);
    return { ...genResult(send, recv), send, recv };
  } finally {
    await rx.kill('SIGKILL', 1000);
  }
}

/** `udpgen` as one log line. */
export function describeRun(label: string, r: UdpgenRun): string {
  return `${label} ${r.kpps.toFixed(1)} kpps received of ${r.sentKpps.toFixed(1)} sent (${r.lossPct.toFixed(1)}% loss, ${r.send.calls} calls, gso ${r.send.gso}, foreign ${r.recv.foreign})`;
}

export const VETH = { a4: '10.99.0.1', b4: '10.99.0.2' };

/** Two fresh namespaces joined by a bare veth (10.99.0.1 - 10.99.0.2); the caller destroys the lab. */
export async function bareVeth(): Promise<{ lab: Lab; a: string; b: string }> {
  const lab = new Lab();
  try {
    const a = await lab.addNs();
    const b = await lab.addNs();
    await lab.veth(a, { v4: `${VETH.a4}/24` }, b, { v4: `${VETH.b4}/24` }, { a: 'va', b: 'vb' });
    return { lab, a, b };
  } catch (err) {
    await lab.destroy().catch(() => {});
    throw err;
  }
}
