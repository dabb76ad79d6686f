import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StatusReporter } from '../../src/agent/status-report.js';
import { FakeClock } from '../../src/clock.js';
import type { ClientMessage, PeerPath } from '../../src/wire/control.js';
import { VERSION } from '../../src/version.js';

test('status reports: only to a coordinator that asked; on each stream, on change, never repeated', () => {
  const clock = new FakeClock();
  const sent: ClientMessage[] = [];
  let paths: Record<string, PeerPath> = {};
  let connected = true;
  const r = new StatusReporter((m) => connected && sent.push(m) > 0, () => paths, clock, 5000);

  r.streamStarted(false);
  r.changed();
  clock.advance(60_000);
  assert.deepEqual(sent, [], 'an older coordinator gets nothing (it would answer with an error)');

  r.streamStarted(true);
  assert.deepEqual(sent, [{ type: 'status', version: VERSION, paths: {} }]);
  clock.advance(20_000);
  assert.equal(sent.length, 1, 'unchanged paths are not re-sent');

  paths = { k1: 'direct' };
  clock.advance(5000);
  assert.deepEqual(sent.at(-1), { type: 'status', version: VERSION, paths: { k1: 'direct' } }, 'found by the periodic comparison');
  paths = { k1: 'relay' };
  r.changed();
  r.changed();
  clock.advance(500);
  assert.equal(sent.length, 3, 'a path change is reported soon, a burst once');

  connected = false;
  paths = { k1: 'direct' };
  clock.advance(5000);
  assert.equal(sent.length, 3);
  connected = true;
  r.streamStarted(true);
  assert.equal(sent.length, 4, 'a new stream gets the current report');
  r.stop();
  paths = {};
  clock.advance(60_000);
  assert.equal(sent.length, 4, 'stopped');
});
