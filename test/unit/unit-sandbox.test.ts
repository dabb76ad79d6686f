import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { execStart, parseUnit, readUnit, sandboxPrefix, serviceValue } from '../../src/lab/unit-sandbox.js';
import { PACKAGE_ROOT } from '../../src/lab/wg-pair.js';

test('parseUnit: sections, repeated keys, continuations, comments, empty reset', () => {
  const u = parseUnit('# c\n[Unit]\nDescription=x\n[Service]\nReadWritePaths=/a\nReadWritePaths=/b \\\n /c\n; c\nDeviceAllow=/x\nDeviceAllow=\n');
  assert.deepEqual(u.get('Service')?.get('ReadWritePaths'), ['/a', '/b   /c']);
  assert.deepEqual(u.get('Service')?.get('DeviceAllow'), []);
  assert.equal(u.get('Unit')?.get('Description')?.[0], 'x');
  assert.throws(() => parseUnit('[Service]\nnot a setting\n'), /cannot parse/);
});

test('weft.service: ExecStart with ${WEFT_SERVER} filled, a sandbox for every directive', () => {
  const u = readUnit(join(PACKAGE_ROOT, 'deploy', 'systemd', 'weft.service'));
  assert.deepEqual(execStart(u, { WEFT_SERVER: 'https://c.example' }).slice(0, 4), ['/usr/bin/weft', 'up', '--server', 'https://c.example']);
  assert.throws(() => execStart(u, {}), /WEFT_SERVER/);
  const argv = sandboxPrefix(u, '/tmp/state');
  assert.equal(argv[0], 'unshare');
  const script = argv[argv.indexOf('-c') + 1];
  assert.match(script, /--bounding-set=-all,\+net_admin,\+net_raw,\+net_bind_service/);
  assert.match(script, /--no-new-privs/);
  assert.match(script, /mount --bind '\/tmp\/state' \/var\/lib\/weft/);
  assert.equal(serviceValue(u, 'ProtectSystem'), 'strict');
});

test('a directive the emulation cannot apply, or a privileged ExecStart, is refused', () => {
  assert.throws(() => sandboxPrefix(parseUnit('[Service]\nExecStart=/bin/true\nRestrictAddressFamilies=AF_INET\n'), '/s'), /cannot apply RestrictAddressFamilies/);
  assert.throws(() => execStart(parseUnit('[Service]\nExecStart=+/bin/true\n'), {}), /absolute path/);
});
