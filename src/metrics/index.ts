import { Counter, Gauge, Registry } from 'prom-client';

// Metrics read at scrape time: a daemon's components keep plain counters (stats objects)
// that cost nothing per packet; these helpers turn them into Prometheus series when
// /metrics is scraped. Each daemon has its own Registry (several run in one test process).

export { Histogram, Registry } from 'prom-client';

export type Labels = Record<string, string>;
/** Called once per scrape; `emit` once per series. */
export type Reader = (emit: (value: number, labels?: Labels) => void) => void;

interface Spec {
  name: string;
  help: string;
  labelNames?: readonly string[];
}

const config = (reg: Registry, spec: Spec) => ({ ...spec, labelNames: spec.labelNames ?? [], registers: [reg] });

/** A counter whose values are copied from existing counters at scrape time. */
export function counterFrom(reg: Registry, spec: Spec, read: Reader): void {
  const c: Counter = new Counter({ ...config(reg, spec), collect: () => (c.reset(), read((v, l) => (l ? c.inc(l, v) : c.inc(v)))) });
}

/** A gauge whose values are computed at scrape time. */
export function gaugeFrom(reg: Registry, spec: Spec, read: Reader): void {
  const g: Gauge = new Gauge({ ...config(reg, spec), collect: () => (g.reset(), read((v, l) => (l ? g.set(l, v) : g.set(v)))) });
}

/** `droppedQueueFull` -> `queue_full` (with `prefix` "dropped"): stats field names as label values. */
export function snakeReason(field: string, prefix = ''): string {
  return field.slice(prefix.length).replace(/^[A-Z]/, (c) => c.toLowerCase()).replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Emits every numeric field of `stats` whose name starts with `prefix`, labelled by `label`. */
export function emitFields(emit: (v: number, l?: Labels) => void, stats: object | null | undefined, prefix: string, label: string, extra: Labels = {}): void {
  if (!stats) return;
  for (const [k, v] of Object.entries(stats)) if (k.startsWith(prefix) && k !== prefix && typeof v === 'number') emit(v, { ...extra, [label]: snakeReason(k, prefix) });
}
