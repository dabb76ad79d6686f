// MagicDNS end to end inside a namespace: the OS resolver (glibc via getent) reaches the
// mesh names, short names, reverse names and an upstream name through our server, and
// the namespace's resolv.conf comes back unchanged afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, runOk } from '../../src/lab/netns.js';
import { requireOrSkip, missingTools, rootReason } from '../../src/lab/require.js';
import { e2eFile } from './helpers.js';

e2eFile();

const CHILD = fileURLToPath(new URL('../helpers/dns-child.js', import.meta.url));
const ORIGINAL = '# lab namespace resolver\nnameserver 127.0.0.2\nsearch lab.test\n';

test('getent resolves mesh names, short names, reverse and upstream names through MagicDNS', async (t) => {
  if (!requireOrSkip(t, [rootReason(), ...missingTools(['ip', 'getent'])])) return;
  const lab = new Lab();
  let etcDir: string | null = null;
  // Not under /etc/netns/<ns>: `ip netns exec` bind-mounts every file there over /etc.
  const backupDir = mkdtempSync(join(tmpdir(), 'weft-dns-e2e-'));
  try {
    const ns = await lab.addNs();
    // The mesh interface stand-in: getaddrinfo (AI_ADDRCONFIG) returns nothing for a
    // family the host has no non-loopback address of. A veth pair kept inside ns.
    await runOk(['ip', '-n', ns, 'link', 'add', 'weft0', 'type', 'veth', 'peer', 'name', 'weft1']);
    for (const dev of ['weft0', 'weft1']) await runOk(['ip', '-n', ns, 'link', 'set', dev, 'up']);
    await runOk(['ip', '-n', ns, 'addr', 'add', '100.64.0.9/32', 'dev', 'weft0']);
    await runOk(['ip', '-n', ns, '-6', 'addr', 'add', 'fd7a:115c:a1e0::9/128', 'dev', 'weft0', 'nodad']);
    // `ip netns exec` bind-mounts this over /etc/resolv.conf for every command in ns.
    etcDir = `/etc/netns/${ns}`;
    mkdirSync(etcDir, { recursive: true });
    writeFileSync(`${etcDir}/resolv.conf`, ORIGINAL);
    const child = lab.spawn(ns, [process.execPath, CHILD, join(backupDir, 'resolv.pre-weft-backup.conf')]);
    const ready = await child.waitFor(/ready upstreams=(\S*)/, 15_000);
    assert.equal(ready[1], '127.0.0.2', 'upstreams come from the previous resolv.conf');
    assert.match(readFileSync(`${etcDir}/resolv.conf`, 'utf8'), /nameserver 127\.0\.0\.53\nsearch weft\.internal lab\.test/);

    const getent = async (...args: string[]): Promise<string> => {
      const r = await lab.exec(ns, ['getent', ...args], { timeoutMs: 15_000 });
      assert.equal(r.code, 0, `getent ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    assert.match(await getent('ahostsv4', 'alpha.weft.internal'), /^100\.64\.0\.1\s/m);
    assert.match(await getent('ahostsv6', 'alpha.weft.internal'), /^fd7a:115c:a1e0::1\s/m);
    assert.match(await getent('ahostsv4', 'beta'), /^100\.64\.0\.2\s/m, 'short name via the search domain');
    assert.match(await getent('hosts', '100.64.0.1'), /^100\.64\.0\.1\s+alpha\.weft\.internal/m);
    assert.match(await getent('hosts', 'fd7a:115c:a1e0::2'), /beta\.weft\.internal/);
    assert.match(await getent('ahostsv4', 'www.upstream.test'), /^192\.0\.2\.10\s/m, 'forwarded upstream');
    const unknown = await lab.exec(ns, ['getent', 'hosts', 'nope.weft.internal'], { timeoutMs: 15_000 });
    assert.equal(unknown.code, 2, 'NXDOMAIN: not found');

    await child.kill('SIGTERM', 5000);
    assert.match(child.stdout, /restored/);
    assert.equal(readFileSync(`${etcDir}/resolv.conf`, 'utf8'), ORIGINAL);
  } finally {
    await lab.destroy();
    if (etcDir) rmSync(etcDir, { recursive: true, force: true });
    rmSync(backupDir, { recursive: true, force: true });
  }
});
