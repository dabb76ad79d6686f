import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseUpArgs } from '../../src/cli/node-args.js';

test('weft up circuit flags: parsed, implied relay role, and refused where they cannot work', () => {
  assert.equal(parseUpArgs({}).circuits, undefined);
  assert.deepEqual(parseUpArgs({ circuits: true }).circuits, { serve: true, exit: false, sameNetwork: false, exitCircuit: undefined });
  assert.deepEqual(parseUpArgs({ exitCircuit: '3', circuitExitNode: 'gw', circuitSocks5: '127.0.0.1:1081' }).circuits, {
    serve: true,
    exit: false,
    sameNetwork: false,
    exitCircuit: { hops: 3, exit: 'gw', socks5: { host: '127.0.0.1', port: 1081 } },
  });
  assert.equal(parseUpArgs({ circuits: true, circuitExit: true }).circuits?.exit, true);
  // On the userspace stack the links run over it (src/agent/circuit-start.ts).
  assert.equal(parseUpArgs({ exitCircuit: '3', tun: 'userspace' }).circuits?.exitCircuit?.hops, 3);
  for (const raw of [{ exitCircuit: '0' }, { exitCircuit: '9' }, { circuitExitNode: 'gw' }]) {
    assert.throws(() => parseUpArgs(raw), { code: 'ERR_INVALID_ARGUMENT' }, JSON.stringify(raw));
  }
});
