// Helpers of the coordinator benches (control.ts, console.ts): a bounded worker pool,
// percentiles, and timed scrapes of a /metrics endpoint.
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
