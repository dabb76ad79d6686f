// A third namespace for load generators (benchmarks): C, joined to an existing
// namespace (the engine under test) by its own veth, with `sources` extra addresses so
// a generator can send from many distinct IPs. Addresses come from 10.201.0.0/16: the
// target end is 10.201.0.1, C's own 10.201.0.2, sources 10.201.1.0 onwards.
import { runOk, type Lab } from './netns.js';

export interface LoadNamespace {
  ns: string;
  /** The address of the target namespace's end of the veth. */
  target: string;
  /** Source addresses local to `ns` (`sources` of them). */
  sources: string[];
}

export const LOAD_MAX_SOURCES = 16_000;

export async function addLoadNamespace(lab: Lab, targetNs: string, sources: number, names = { a: 'load', b: 'loadb' }): Promise<LoadNamespace> {
  const n = Math.max(0, Math.min(LOAD_MAX_SOURCES, Math.floor(sources)));
  const ns = await lab.addNs();
  await lab.veth(ns, { v4: '10.201.0.2/16' }, targetNs, { v4: '10.201.0.1/16' }, names);
  const list: string[] = [];
  for (let i = 0; i < n; i++) list.push(`10.201.${1 + (i >> 8)}.${i & 255}`);
  // One `ip -batch` instead of one process per address (a thousand would take seconds).
  if (list.length) await runOk(['ip', '-n', ns, '-batch', '-'], { input: list.map((ip) => `addr add ${ip}/16 dev ${names.a}\n`).join(''), timeoutMs: 30_000 });
  // The ARP table's gc_thresh3 (1024 by default) is host-wide: a thousand dynamic
  // entries in the target overflow it and drop replies. Permanent entries do not count.
  if (list.length) {
    const [link] = JSON.parse(await runOk(['ip', '-n', ns, '-j', 'link', 'show', names.a])) as Array<{ address: string }>;
    const neigh = list.map((ip) => `neigh replace ${ip} lladdr ${link.address} dev ${names.b} nud permanent\n`).join('');
    await runOk(['ip', '-n', targetNs, '-batch', '-'], { input: neigh, timeoutMs: 30_000 });
  }
  return { ns, target: '10.201.0.1', sources: list };
}
