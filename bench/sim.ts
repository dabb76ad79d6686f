// Helpers of the coordinator benches (control.ts, console.ts): a bounded worker pool,
// percentiles, and timed scrapes of a /metrics endpoint.
import { join } from 'node:path';
import { AdminClient } from '../src/control/admin-client.js';
import { http, SimNode } from '../test/helpers/control.js';
import { parseExposition } from '../test/helpers/prom-text.js';

export const SCRAPES = 30;

export const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

export async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (i < items.length) await fn(items[i++]);
  }));
}

/** Scrapes `url` SCRAPES times in a row: median and max wall time, and the body size (checked once). */
export async function measureScrapes(url: string): Promise<{ p50: number; max: number; bytes: number }> {
  const times: number[] = [];
  let body = '';
  for (let i = 0; i < SCRAPES; i++) {
    const t0 = performance.now();
    const res = await fetch(url);
    body = await res.text();
    times.push(performance.now() - t0);
    if (res.status !== 200) throw new Error(`scrape: HTTP ${res.status}`);
  }
  parseExposition(body);
  times.sort((a, b) => a - b);
  return { p50: pct(times, 50), max: times.at(-1)!, bytes: Buffer.byteLength(body) };
}

/** A reusable pre-auth key and `size` simulated nodes (not yet registered) for the server in `stateDir`. */
export async function simNodes(serverUrl: string, stateDir: string, size: number): Promise<{ admin: AdminClient; key: string; nodes: SimNode[] }> {
  const admin = new AdminClient({ socketPath: join(stateDir, 'admin.sock') });
  const { key } = await admin.request<{ key: string }>('POST', '/api/v1/admin/authkeys', { reusable: true });
  const serverKey = (await http(`${serverUrl}/api/v1/key`, 'GET')).json.publicKey as string;
  return { admin, key, nodes: Array.from({ length: size }, () => new SimNode(serverUrl, serverKey)) };
}

export async function register(n: SimNode, key: string): Promise<void> {
  const r = await n.register({ hostname: 'bench', authKey: key, endpoints: ['192.0.2.1:41641'] });
  if (r.status !== 200) throw new Error(`register: ${r.status} ${JSON.stringify(r.json)}`);
}
