import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimCluster } from '../../src/serverless/sim.js';
import { suspicionTimeout, DEFAULT_SWIM_CONFIG as C } from '../../src/serverless/config.js';

test('20 members converge, a crashed one is declared dead everywhere', () => {
  const sim = new SimCluster({ n: 20, loss: 0.05, seed: 7 });
  sim.startAll();
  const all = (): boolean => sim.nodes.every((_, t) => sim.lagging(t, 'alive', () => true) === 0);
  const joined = sim.runUntil(all, 60_000);
  assert.ok(joined !== null, 'cluster converged');
  sim.kill(5);
  const live = (i: number): boolean => i !== 5;
  const dead = sim.runUntil(() => sim.lagging(5, 'dead', live) === 0, 120_000);
  console.log({ joined, dead, bound: suspicionTimeout(C.suspicionMult, 20, C.probeIntervalMs) });
  assert.ok(dead !== null);
});
