import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CONTROL_PROTOCOL_LOG, CONTROL_PROTOCOL_VERSION, FORWARD_RULES_VERSION, MIN_CONTROL_PROTOCOL_VERSION, SEALED_VERSION } from '../../src/wire/version.js';

const DOC = fileURLToPath(new URL('../../../docs/CONTROL-PROTOCOL.md', import.meta.url));
const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

test('the version log beside the constant has one entry per version, v1..current, in order', () => {
  assert.deepEqual(CONTROL_PROTOCOL_LOG.map((e) => e.version), upTo(CONTROL_PROTOCOL_VERSION));
  for (const e of CONTROL_PROTOCOL_LOG) assert.ok(e.summary.length > 0, `v${e.version} says what changed`);
  for (const v of [MIN_CONTROL_PROTOCOL_VERSION, FORWARD_RULES_VERSION, SEALED_VERSION]) assert.ok(v >= 1 && v <= CONTROL_PROTOCOL_VERSION);
});

test('docs/CONTROL-PROTOCOL.md logs the same versions, once each, oldest first', () => {
  const text = readFileSync(DOC, 'utf8');
  const log = text.slice(text.indexOf('## Change log'));
  assert.ok(log.length > 0 && text.includes('## Change log'));
  const versions = [...log.matchAll(/^- \*\*v(\d+)\*\*/gm)].map((m) => Number(m[1]));
  assert.deepEqual(versions, upTo(CONTROL_PROTOCOL_VERSION));
});
