// Admin console benchmark: one coordinator process on 127.0.0.1 with 1,000 simulated
// nodes (real registrations and map streams, all online), the console in headless
// Chromium (Debian's package, playwright-core). Measures:
//   - load time of the nodes and topology pages (navigation start to all 1,000 rows /
//     circles drawn), LOADS times each, interleaved;
//   - topology update latency: an admin API call that changes one node (expire) to the
//     moment the open page has recoloured that node's circle (a MutationObserver stamps
//     Date.now(); same machine, same clock), CHANGES times;
//   - the /metrics scrape (time and size) with the 1,000 nodes connected.
// There is no reference console to interleave with; numbers are absolute.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import type { MapClient } from '../test/helpers/control.js';
import { exited, startServerProcess } from '../test/helpers/server-process.js';
import { measureScrapes, pct, pool, register, SCRAPES, simNodes } from './sim.js';

const NODES = Number(process.env.WEFT_BENCH_NODES ?? 1000);
const LOADS = 5;
const CHANGES = 20;
const CONCURRENCY = 20;
const CHROMIUM = '/usr/bin/chromium';
const STEP_TIMEOUT_MS = 60_000;

if (!existsSync(CHROMIUM)) {
  console.error(`bench:console needs ${CHROMIUM} (apt-get install -y chromium)`);
  process.exit(2);
}

const stats = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  return `p50 ${pct(s, 50).toFixed(0)} ms, max ${s.at(-1)!.toFixed(0)} ms (n=${s.length})`;
};

// Page-side code is passed as functions: the console's CSP forbids eval'd strings.
type PageGlobals = { document: { querySelectorAll(s: string): { length: number } }; __changes: Record<string, number> };
const countIs = ([selector, n]: [string, number]): boolean => (globalThis as unknown as PageGlobals).document.querySelectorAll(selector).length === n;

async function timedLoad(page: Page, url: string, hash: string, selector: string): Promise<number> {
  await page.goto('about:blank');
  const t0 = Date.now();
  await page.goto(`${url}/admin#${hash}`);
  await page.waitForFunction(countIs, [selector, NODES] as [string, number], { timeout: STEP_TIMEOUT_MS, polling: 'raf' });
  return Date.now() - t0;
}

const dir = mkdtempSync(join(tmpdir(), 'weft-bench-console-'));
const server = await startServerProcess(['--state-dir', dir, '--register-rate', '0', '--metrics-listen', '127.0.0.1:0', '--stun-port', '0']);
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
const maps: MapClient[] = [];
try {
  const { admin, key, nodes } = await simNodes(server.url, dir, NODES);
  let t = performance.now();
  await pool(nodes, CONCURRENCY, async (n) => {
    await register(n, key);
    const m = await n.openMap();
    await m.waitFor((x) => x.type === 'full', STEP_TIMEOUT_MS);
    maps.push(m);
  });
  console.log(`${NODES} nodes registered and streaming in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const apiKey = (await admin.request<{ key: string }>('POST', '/api/v1/admin/apikeys', {})).key;
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${server.url}/admin`);
  await page.fill('#secret', apiKey);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#nodes tbody tr', { timeout: STEP_TIMEOUT_MS });

  const nodesReady = '#nodes tbody tr';
  const topoReady = '#topology circle.node';
  const nodesLoad: number[] = [], topoLoad: number[] = [];
  for (let i = 0; i < LOADS; i++) {
    nodesLoad.push(await timedLoad(page, server.url, 'nodes', nodesReady));
    topoLoad.push(await timedLoad(page, server.url, 'topology', topoReady));
  }

  // Topology update latency, on the open topology page.
  await page.evaluate(() => {
    const g = globalThis as unknown as { __changes: Record<string, number>; MutationObserver: new (cb: (ms: { target: { classList: { contains(c: string): boolean }; dataset: { node: string } } }[]) => void) => { observe(el: unknown, o: unknown): void }; document: { getElementById(id: string): unknown } };
    g.__changes = {};
    new g.MutationObserver((ms) => {
      for (const m of ms) if (m.target.classList.contains('expired')) g.__changes[m.target.dataset.node] ??= Date.now();
    }).observe(g.document.getElementById('topology'), { attributes: true, attributeFilter: ['class'], subtree: true });
  });
  const all = (await admin.request<{ nodes: { name: string }[] }>('GET', '/api/v1/admin/nodes')).nodes.map((n) => n.name);
  const updates: number[] = [];
  for (const name of all.slice(0, CHANGES)) {
    t = Date.now();
    await admin.request('POST', `/api/v1/admin/nodes/${name}/expire`, {});
    const seenAt = await page.waitForFunction((n: string) => (globalThis as unknown as PageGlobals).__changes[n], name, { timeout: STEP_TIMEOUT_MS, polling: 'raf' });
    updates.push(Number(await seenAt.jsonValue()) - t);
  }
  const scrape = await measureScrapes(`${server.metrics}/metrics`);

  console.log(`\nWeft admin console bench: ${NODES} nodes online, one coordinator process, headless Chromium on the same host`);
  console.log('No reference implementation is run alongside: absolute numbers.\n');
  console.log(`nodes page load (all rows drawn):        ${stats(nodesLoad)}`);
  console.log(`topology page load (all circles drawn):  ${stats(topoLoad)}`);
  console.log(`topology update (admin call -> redrawn): ${stats(updates)}`);
  console.log(`/metrics scrape (${SCRAPES} in a row):          p50 ${scrape.p50.toFixed(2)} ms, max ${scrape.max.toFixed(2)} ms, ${(scrape.bytes / 1024).toFixed(1)} KiB`);
} finally {
  await browser.close();
  await Promise.all(maps.map((m) => m.close()));
  server.proc.kill('SIGTERM');
  await exited(server.proc);
  rmSync(dir, { recursive: true, force: true });
}
