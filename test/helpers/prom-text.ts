// A checker for the Prometheus text exposition format (0.0.4), strict where Weft's
// conventions are: every family has HELP and TYPE before its samples and is contiguous;
// names, label syntax and values are valid; no series repeats; counters end in _total
// and only counters do; histograms have ordered cumulative buckets ending at +Inf that
// equal _count. Throws PromFormatError naming the line; returns the parsed series.

export class PromFormatError extends Error {
  readonly code = 'ERR_PROM_FORMAT';
  constructor(line: number, why: string) {
    super(`line ${line}: ${why}`);
  }
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  types: Map<string, string>;
  samples: Sample[];
  /** The value of the one series with exactly these labels; undefined when absent. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** Sum over every series of `name` whose labels include `match`. */
  sum(name: string, match?: Record<string, string>): number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(s: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(s)) return Number.NaN - 1; // marker: invalid
  return Number(s);
}

function parseLabels(body: string, line: number): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < body.length) {
    const eq = body.indexOf('=', i);
    if (eq < 0) throw new PromFormatError(line, `label without '=' in {${body}}`);
    const name = body.slice(i, eq);
    if (!LABEL.test(name)) throw new PromFormatError(line, `invalid label name ${JSON.stringify(name)}`);
    if (name in out) throw new PromFormatError(line, `label ${name} repeated`);
    if (body[eq + 1] !== '"') throw new PromFormatError(line, `label ${name} value is not quoted`);
    let j = eq + 2;
    let v = '';
    for (; j < body.length && body[j] !== '"'; j++) {
      if (body[j] === '\\') {
        const e = body[++j];
        if (e === 'n') v += '\n';
        else if (e === '\\' || e === '"') v += e;
        else throw new PromFormatError(line, `bad escape \\${e} in label ${name}`);
      } else v += body[j];
    }
    if (j >= body.length) throw new PromFormatError(line, `unterminated value of label ${name}`);
    out[name] = v;
    i = j + 1;
    if (i < body.length) {
      if (body[i] !== ',') throw new PromFormatError(line, `expected ',' after label ${name}`);
      i++;
    }
  }
  return out;
}

const SUFFIXES = ['_bucket', '_sum', '_count'];

/** The family a sample belongs to given the TYPEs seen (histogram suffixes stripped). */
function familyOf(name: string, types: Map<string, string>): string {
  if (types.has(name)) return name;
  for (const s of SUFFIXES) if (name.endsWith(s) && ['histogram', 'summary'].includes(types.get(name.slice(0, -s.length)) ?? '')) return name.slice(0, -s.length);
  return name;
}

export function parseExposition(text: string): Exposition {
  if (text.length > 0 && !text.endsWith('\n')) throw new PromFormatError(0, 'exposition must end with a newline');
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples: Sample[] = [];
  const series = new Set<string>();
  const done = new Set<string>();
  let current: string | null = null;
  const lines = text.split('\n').slice(0, -1);
  lines.forEach((l, idx) => {
    const n = idx + 1;
    if (l === '') return;
    const meta = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(l);
    if (meta) {
      const [, kind, name, rest = ''] = meta;
      if (!NAME.test(name)) throw new PromFormatError(n, `invalid metric name ${JSON.stringify(name)}`);
      if (name !== current) {
        if (done.has(name)) throw new PromFormatError(n, `${kind} for ${name} after its block ended`);
        if (current !== null) done.add(current);
        current = name;
      }
      if (kind === 'HELP') {
        if (helps.has(name)) throw new PromFormatError(n, `second HELP for ${name}`);
        helps.add(name);
      } else {
        if (types.has(name)) throw new PromFormatError(n, `second TYPE for ${name}`);
        if (!TYPES.has(rest)) throw new PromFormatError(n, `unknown type ${JSON.stringify(rest)}`);
        if (rest === 'counter' && !name.endsWith('_total')) throw new PromFormatError(n, `counter ${name} does not end in _total`);
        if (rest !== 'counter' && name.endsWith('_total')) throw new PromFormatError(n, `${rest} ${name} must not end in _total`);
        types.set(name, rest);
      }
      return;
    }
    if (l.startsWith('#')) return;
    const m = /^([^\s{]+)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(l);
    if (!m) throw new PromFormatError(n, `not a sample: ${JSON.stringify(l)}`);
    const [, name, body = '', raw] = m;
    if (!NAME.test(name)) throw new PromFormatError(n, `invalid metric name ${JSON.stringify(name)}`);
    const fam = familyOf(name, types);
    if (!types.has(fam)) throw new PromFormatError(n, `sample of ${name} without a TYPE line before it`);
    if (!helps.has(fam)) throw new PromFormatError(n, `sample of ${name} without a HELP line before it`);
    if (fam !== current) throw new PromFormatError(n, `sample of ${name} outside its family's block`);
    const value = parseValue(raw);
    if (Number.isNaN(value) && raw !== 'NaN') throw new PromFormatError(n, `invalid value ${JSON.stringify(raw)}`);
    const labels = parseLabels(body, n);
    const key = `${name}{${Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',')}}`;
    if (series.has(key)) throw new PromFormatError(n, `duplicate series ${key}`);
    series.add(key);
    const type = types.get(fam);
    if (type === 'counter' && !(value >= 0)) throw new PromFormatError(n, `counter ${name} is ${raw}`);
    if (type === 'histogram' && name.endsWith('_bucket') && labels.le === undefined) throw new PromFormatError(n, `bucket of ${fam} without le`);
    samples.push({ name, labels, value });
  });
  checkHistograms(types, samples);
  const matches = (s: Sample, want: Record<string, string>) => Object.entries(want).every(([k, v]) => s.labels[k] === v);
  return {
    types,
    samples,
    value(name, labels = {}) {
      return samples.find((s) => s.name === name && Object.keys(s.labels).length === Object.keys(labels).length && matches(s, labels))?.value;
    },
    sum(name, match = {}) {
      return samples.filter((s) => s.name === name && matches(s, match)).reduce((a, s) => a + s.value, 0);
    },
  };
}

function checkHistograms(types: Map<string, string>, samples: Sample[]): void {
  for (const [fam, type] of types) {
    if (type !== 'histogram') continue;
    const groups = new Map<string, Sample[]>();
    const rest = (s: Sample) => JSON.stringify(Object.entries(s.labels).filter(([k]) => k !== 'le').sort());
    for (const s of samples) if (s.name === `${fam}_bucket`) groups.set(rest(s), [...(groups.get(rest(s)) ?? []), s]);
    for (const [labels, buckets] of groups) {
      let prevLe = -Infinity, prevCount = 0;
      for (const b of buckets) {
        const le = parseValue(b.labels.le);
        if (!(le > prevLe)) throw new PromFormatError(0, `${fam}${labels}: le ${b.labels.le} not increasing`);
        if (b.value < prevCount) throw new PromFormatError(0, `${fam}${labels}: buckets not cumulative at le ${b.labels.le}`);
        prevLe = le;
        prevCount = b.value;
      }
      if (prevLe !== Infinity) throw new PromFormatError(0, `${fam}${labels}: no +Inf bucket`);
      const count = samples.find((s) => s.name === `${fam}_count` && rest(s) === labels);
      if (!count || count.value !== prevCount) throw new PromFormatError(0, `${fam}${labels}: _count differs from the +Inf bucket`);
      if (!samples.some((s) => s.name === `${fam}_sum` && rest(s) === labels)) throw new PromFormatError(0, `${fam}${labels}: no _sum`);
    }
  }
}

/** Fetches `url` and checks it: 200, the text format's content type, a valid body. */
export async function scrape(url: string, headers: Record<string, string> = {}): Promise<Exposition & { bytes: number }> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`scrape ${url}: HTTP ${res.status}: ${text}`);
  const ct = res.headers.get('content-type') ?? '';
  if (!/^text\/plain; version=0\.0\.4/.test(ct)) throw new Error(`scrape ${url}: content-type ${ct}`);
  return { ...parseExposition(text), bytes: Buffer.byteLength(text) };
}
