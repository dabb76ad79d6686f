import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseWgArgs } from '../../src/cli/wg.js';
import { VERSION } from '../../src/version.js';
import { PACKAGE_ROOT } from '../../src/lab/wg-pair.js';

test('weft-wg arguments: as wireguard-go; an option is never taken for an interface name', () => {
  assert.deepEqual(parseWgArgs(['-f', 'wg0']), { foreground: true, iface: 'wg0' });
  assert.equal(parseWgArgs(['wg0']).constructor, Object);
  for (const bad of [['--version'], ['--bogus'], ['-x'], [], ['a', 'b'], ['way-too-long-name0']]) {
    assert.equal(typeof parseWgArgs(bad), 'string', JSON.stringify(bad));
  }
});

test('VERSION is package.json\'s', () => {
  assert.equal(VERSION, (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version);
});
