import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SWIM_CONFIG as C, suspicionTimeout } from '../../src/serverless/config.js';
import { SimCluster } from '../../src/serverless/sim.js';
import { keyId } from '../../src/serverless/trust.js';

// The acceptance simulation: 200 real members (real sealing and codec) on a fake
// network with 5 % loss under a fake clock. Slow (tens of CPU seconds: 200 × 600 s of
// protocol, ~4.7 datagrams per member per second), hence an integration test.

const allAlive = (sim: SimCluster, live?: (i: number) => boolean): boolean => sim.converged(live);

test('200 members under 5 % loss: no false positive in 10 simulated minutes; a crash is declared dead everywhere within the SWIM bound', () => {
  const n = 200;
  const sim = new SimCluster({ n, loss: 0.05, seed: 11 });
  const falseDeaths: string[] = [];
  const crashed = 42;
  sim.nodes.forEach((node, i) =>
    node.on('member', (e) => {
      if (e.type === 'dead' && e.id !== keyId(sim.keys[crashed])) falseDeaths.push(`${i} saw ${e.id} dead`);
    }),
  );
  sim.startAll();
  assert.notEqual(sim.runUntil(() => allAlive(sim), 60_000, 1000), null, 'everyone knows everyone within a minute');
  sim.clock.advance(10 * 60_000);
  assert.deepEqual(falseDeaths, [], 'no live member declared dead');
  assert.ok(allAlive(sim), 'still everyone alive everywhere');

  sim.kill(crashed);
  const live = (i: number): boolean => i !== crashed;
  // SWIM bound: a few protocol periods until someone's probe fails, Lifeguard's maximum
  // suspicion timeout, then dissemination in O(log n) gossip rounds.
  const maxSuspicion = C.suspicionMaxTimeoutMult * suspicionTimeout(C.suspicionMult, n, C.probeIntervalMs);
  const bound = maxSuspicion + 10 * C.probeIntervalMs;
  const took = sim.runUntil(() => sim.lagging(crashed, 'dead', live) === 0, bound, 100);
  assert.notEqual(took, null, `declared dead everywhere within ${bound} ms`);
  assert.deepEqual(falseDeaths, []);
});

