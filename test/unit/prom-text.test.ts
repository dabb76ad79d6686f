import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { parseExposition } from '../helpers/prom-text.js';

// The exposition checker the metrics tests rely on must itself reject what is wrong.

const rejects = (text: string, why: RegExp) => assert.throws(() => parseExposition(text), (e: Error & { code?: string }) => e.code === 'ERR_PROM_FORMAT' && why.test(e.message));

test('accepts what prom-client writes and reads values back', async () => {
  const reg = new Registry();
  new Counter({ name: 'x_events_total', help: 'h', labelNames: ['kind'], registers: [reg] }).inc({ kind: 'a"b\\c\nd' }, 3);
  new Gauge({ name: 'x_level', help: 'h', registers: [reg] }).set(-1.5);
  const h = new Histogram({ name: 'x_latency_seconds', help: 'h', buckets: [0.1, 1], registers: [reg] });
  h.observe(0.05);
  h.observe(5);
  const e = parseExposition(await reg.metrics());
  assert.equal(e.value('x_events_total', { kind: 'a"b\\c\nd' }), 3);
  assert.equal(e.value('x_level'), -1.5);
  assert.equal(e.value('x_latency_seconds_count'), 2);
  assert.equal(e.value('x_latency_seconds_bucket', { le: '0.1' }), 1);
  assert.equal(e.types.get('x_latency_seconds'), 'histogram');
});

test('rejects malformed expositions', () => {
  const ok = '# HELP a_total h\n# TYPE a_total counter\na_total 1\n';
  assert.doesNotThrow(() => parseExposition(ok));
  rejects('a_total 1\n', /without a TYPE/);
  rejects('# TYPE a_total counter\na_total 1\n', /without a HELP/);
  rejects('# HELP a h\n# TYPE a counter\na 1\n', /does not end in _total/);
  rejects('# HELP a_total h\n# TYPE a_total gauge\na_total 1\n', /must not end in _total/);
  rejects('# HELP a_total h\n# TYPE a_total counter\na_total -1\n', /counter a_total is -1/);
  rejects('# HELP a_total h\n# TYPE a_total counter\na_total one\n', /invalid value/);
  rejects('# HELP a_total h\n# TYPE a_total counter\na_total{x=1} 1\n', /not quoted/);
  rejects('# HELP a_total h\n# TYPE a_total counter\na_total{1x="1"} 1\n', /invalid label name/);
  rejects('# HELP a_total h\n# TYPE a_total counter\na_total{x="1"} 1\na_total{x="1"} 2\n', /duplicate series/);
  rejects('# HELP a_total h\n# TYPE a_total counter\na_total 1', /end with a newline/);
  rejects('# HELP a_total h\n# TYPE a_total counter\n# HELP b h\n# TYPE b gauge\nb 1\na_total 1\n', /outside its family/);
  rejects('# HELP a_total h\n# TYPE a_total histogram\n', /must not end in _total/);
  const hist = (b1: string, b2: string, inf: string, count: string) => `# HELP l h\n# TYPE l histogram\nl_bucket{le="${b1}"} 1\nl_bucket{le="${b2}"} 2\nl_bucket{le="+Inf"} ${inf}\nl_sum 1\nl_count ${count}\n`;
  assert.doesNotThrow(() => parseExposition(hist('0.1', '1', '3', '3')));
  rejects(hist('1', '0.1', '3', '3'), /not increasing/);
  rejects(hist('0.1', '1', '1', '1'), /not cumulative/);
  rejects(hist('0.1', '1', '3', '4'), /_count differs/);
});
