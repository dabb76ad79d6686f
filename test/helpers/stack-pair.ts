// Two userspace stacks back to back in one process, for a describe() of node:test.
import { after, before } from 'node:test';
import { NetStack } from '../../src/netstack/stack.js';
import { loadStack, type StackKind } from '../../src/netstack/select.js';

export const A = { v4: '10.99.0.1', v6: 'fd99::1' };
export const B = { v4: '10.99.0.2', v6: 'fd99::2' };

/** Stacks made (MTU 1400, addresses A and B) and wired by `wire` in before(), stopped in after(). */
export function stackPair(ka: StackKind, kb: StackKind, wire: (a: NetStack, b: NetStack) => void): { a: NetStack; b: NetStack } {
  const pair = {} as { a: NetStack; b: NetStack };
  // The stacks' timers are unref'd (they never keep a program alive); retransmissions
  // and window updates need them, so something must hold the loop while tests wait.
  let hold: NodeJS.Timeout;
  before(() => {
    hold = setInterval(() => {}, 1000);
    pair.a = new NetStack({ mtu: 1400, addon: loadStack(ka) });
    pair.b = new NetStack({ mtu: 1400, addon: loadStack(kb) });
    pair.a.setAddresses(A.v4, A.v6);
    pair.b.setAddresses(B.v4, B.v6);
    wire(pair.a, pair.b);
  });
  after(async () => {
    clearInterval(hold);
    await pair.a.stop();
    await pair.b.stop();
  });
  return pair;
}
