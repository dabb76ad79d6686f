// The long test: a real-time rekey (REKEY_AFTER_TIME = 120 s) across weft <->
// wireguard-go, with light traffic for ~130 s. WEFT_E2E_REKEY_PAIR=wireguard-go runs
// it wireguard-go <-> wireguard-go instead (to validate the harness itself).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPair, WEFT, WIREGUARD_GO } from '../../src/lab/wg-pair.js';
import { sleep } from '../../src/lab/netns.js';
import { e2eFile, pre } from './helpers.js';

e2eFile();

const control = process.env.WEFT_E2E_REKEY_PAIR === 'wireguard-go';
const A = control ? WIREGUARD_GO : WEFT;
const B = WIREGUARD_GO;

test(`long: rekey after 120 s, ${A.name} (initiator) <-> ${B.name}`, { timeout: 220_000 }, async (t) => {
  if (process.env.WEFT_E2E_LONG === '0') {
    t.skip('long test disabled by WEFT_E2E_LONG=0');
    return;
  }
  if (!pre(t, [A, B])) return;
  const p = await createPair({ a: A, b: B, endpoints: 'both' });
  try {
    const r0 = await p.ping('a', 4, 3);
    assert.ok(r0.received >= 2, r0.output);
    const first = await p.peer('b');
    const firstA = await p.peer('a');
    assert.ok(first.latestHandshake > 0 && firstA.latestHandshake > 0, 'first handshake');
    // ~132 s of light traffic from the initiator (1 ping/s), bounded by ping's -c and -w.
    const ping = p.ping('a', 4, 132, { intervalS: 1, deadlineS: 140 });
    const deadline = Date.now() + 150_000;
    let advanced = false;
    while (Date.now() < deadline) {
      await sleep(2000);
      const [pa, pb] = await Promise.all([p.peer('a'), p.peer('b')]);
      if (pa.latestHandshake > firstA.latestHandshake && pb.latestHandshake > first.latestHandshake) {
        advanced = true;
        t.diagnostic(`rekeyed after ${pb.latestHandshake - first.latestHandshake} s`);
        break;
      }
    }
    const r = await ping;
    assert.ok(advanced, 'latest-handshake advanced past the first handshake on both sides');
    assert.ok(r.received >= r.transmitted - 3, `traffic kept flowing across the rekey: ${r.received}/${r.transmitted}`);
    const after = await p.ping('b', 4, 3);
    assert.equal(after.received, 3, after.output);
    assert.deepEqual(p.engineProblems(), []);
  } finally {
    await p.stop();
  }
});
