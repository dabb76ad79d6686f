import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LinuxBind } from '../../src/io/bind-linux.js';
import { nativeAvailable } from '../../src/io/native.js';

// SO_MARK needs CAP_NET_ADMIN, so this is not a unit test (those run as non-root).
const skip = process.platform !== 'linux' ? 'Linux only' : !nativeAvailable() ? 'native addon not built (npm run build:native)' : process.getuid?.() !== 0 ? 'needs root for SO_MARK' : false;

test('LinuxBind: setMark (SO_MARK needs CAP_NET_ADMIN)', { skip }, async () => {
  const a = new LinuxBind();
  await a.open(0, { onReceive() {} });
  a.setMark(0x51820);
  a.setMark(0);
  await a.close();
  assert.throws(() => a.setMark(1), (err: unknown) => (err as { code?: string }).code === 'ERR_BIND_CLOSED');
});
