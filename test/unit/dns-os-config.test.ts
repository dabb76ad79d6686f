// ResolvConfConfigurator shared by several agents: every interleaving of apply/restore,
// crashed holders, no original file, stale and held locks. All in temp dirs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ResolvConfConfigurator } from '../../src/dns/os-config.js';
import { parseResolvConf, WEFT_MARKER } from '../../src/dns/resolv-conf.js';

const ORIGINAL = '# from DHCP\nnameserver 192.0.2.1\nnameserver 192.0.2.2\nsearch lan example\noptions edns0\n';
const UPSTREAMS = ['192.0.2.1', '192.0.2.2'];
const DEAD_PID = 999_999_999;
const settings = (iface: string) => ({ iface, nameserver: '100.100.100.100', domain: 'weft.internal' });

async function inTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-resolv-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every order of `n` agents each doing apply then restore: sequences of agent indexes. */
function interleavings(n: number): number[][] {
  const out: number[][] = [];
  const walk = (seq: number[], left: number[]): void => {
    if (left.every((k) => k === 0)) return void out.push(seq);
    left.forEach((k, i) => k > 0 && walk([...seq, i], left.map((x, j) => (j === i ? x - 1 : x))));
  };
  walk([], Array.from({ length: n }, () => 2));
  return out;
}

type Original = 'file' | 'symlink' | 'none';

function makeOriginal(dir: string, kind: Original): void {
  if (kind === 'file') writeFileSync(join(dir, 'resolv.conf'), ORIGINAL);
  if (kind === 'symlink') {
    writeFileSync(join(dir, 'real.conf'), ORIGINAL);
    symlinkSync('real.conf', join(dir, 'resolv.conf'));
  }
}

function assertOriginal(dir: string, kind: Original, at: string): void {
  const path = join(dir, 'resolv.conf');
  if (kind === 'none') return assert.equal(existsSync(path), false, at);
  if (kind === 'symlink') assert.equal(readlinkSync(path), 'real.conf', at);
  else assert.ok(lstatSync(path).isFile(), at);
  assert.equal(readFileSync(path, 'utf8'), ORIGINAL, at);
}

test('2 and 3 agents, every interleaving of apply/restore: MagicDNS while any is up, then the original exactly', async () => {
  let runs = 0;
  for (const n of [2, 3]) {
    for (const kind of ['file', 'symlink', 'none'] as const) {
      // Agents keep backups in their own state dirs, which go away after they go down
      // (as the lab's do), or all use the default next to resolv.conf.
      for (const ownDirs of [true, false]) {
        for (const seq of interleavings(n)) {
          await inTemp(async (dir) => {
            makeOriginal(dir, kind);
            const path = join(dir, 'resolv.conf');
            const agents = Array.from({ length: n }, (_, i) => {
              if (!ownDirs) return new ResolvConfConfigurator({ path });
              mkdirSync(join(dir, `state${i}`));
              return new ResolvConfConfigurator({ path, backupPath: join(dir, `state${i}`, 'resolv.pre-weft-backup.conf') });
            });
            const up = new Set<number>();
            for (const [step, i] of seq.entries()) {
              const at = `n=${n} ${kind} ownDirs=${ownDirs} seq=${seq.join('')} step=${step}`;
              if (up.has(i)) {
                await agents[i].restore();
                up.delete(i);
                if (ownDirs) rmSync(join(dir, `state${i}`), { recursive: true });
              } else {
                const { upstreams } = await agents[i].apply(settings(`weft${i}`));
                assert.deepEqual(upstreams, kind === 'none' ? [] : UPSTREAMS, at);
                up.add(i);
              }
              if (up.size === 0) {
                assertOriginal(dir, kind, at);
                continue;
              }
              const text = readFileSync(path, 'utf8');
              assert.ok(text.startsWith(WEFT_MARKER), at);
              assert.deepEqual(
                parseResolvConf(text),
                { nameservers: ['100.100.100.100'], search: kind === 'none' ? ['weft.internal'] : ['weft.internal', 'lan', 'example'], options: kind === 'none' ? [] : ['edns0'] },
                at,
              );
              assert.equal((text.match(/^# weft-holder /gm) ?? []).length, up.size, at);
            }
            assertOriginal(dir, kind, `end of ${seq.join('')}`);
            assert.deepEqual(readdirSync(dir).sort(), kind === 'none' ? [] : kind === 'symlink' ? ['real.conf', 'resolv.conf'] : ['resolv.conf']);
            runs++;
          });
        }
      }
    }
  }
  assert.equal(runs, 3 * 2 * (6 + 90));
});

test('concurrent apply/restore of 3 agents in one process: serialised by the lock', async () => {
  await inTemp(async (dir) => {
    makeOriginal(dir, 'file');
    const path = join(dir, 'resolv.conf');
    const agents = [0, 1, 2].map(() => new ResolvConfConfigurator({ path }));
    for (let round = 0; round < 20; round++) {
      const results = await Promise.all(agents.map((a, i) => a.apply(settings(`weft${i}`))));
      for (const r of results) assert.deepEqual(r.upstreams, UPSTREAMS);
      assert.equal((readFileSync(path, 'utf8').match(/^# weft-holder /gm) ?? []).length, 3);
      await Promise.all(agents.map((a) => a.restore()));
      assertOriginal(dir, 'file', `round ${round}`);
    }
    assert.deepEqual(readdirSync(dir), ['resolv.conf']);
  });
});

/** What an agent killed while up leaves: our file listing it (dead pid) and its backup. */
function crashLeftovers(dir: string): { path: string; backup: string } {
  const path = join(dir, 'resolv.conf');
  mkdirSync(join(dir, 'crashed'));
  const backup = join(dir, 'crashed', 'resolv.pre-weft-backup.conf');
  writeFileSync(backup, ORIGINAL);
  writeFileSync(
    path,
    `${WEFT_MARKER}: MagicDNS for 1 agent(s)\n# weft-backup ${backup}\n# weft-holder ${DEAD_PID} weft9 100.100.100.100 weft.internal ${backup}\nnameserver 100.100.100.100\n`,
  );
  return { path, backup };
}

test('a crashed holder: the next agent joins, drops it, and its restore brings the original back', async () => {
  await inTemp(async (dir) => {
    const { path, backup } = crashLeftovers(dir);
    mkdirSync(join(dir, 'b'));
    const b = new ResolvConfConfigurator({ path, backupPath: join(dir, 'b', 'backup.conf') });
    assert.deepEqual((await b.apply(settings('weft0'))).upstreams, UPSTREAMS);
    const text = readFileSync(path, 'utf8');
    assert.doesNotMatch(text, new RegExp(`weft-holder ${DEAD_PID}`));
    // The original moved out of the dead agent's state dir, which may be cleaned up.
    assert.equal(existsSync(backup), false);
    rmSync(join(dir, 'crashed'), { recursive: true });
    await b.restore();
    assert.equal(readFileSync(path, 'utf8'), ORIGINAL);
    assert.deepEqual(readdirSync(join(dir, 'b')), []);
  });
  // `weft down` of any agent (a restore without apply) also cleans up after a crash.
  await inTemp(async (dir) => {
    const { path, backup } = crashLeftovers(dir);
    await new ResolvConfConfigurator({ path }).restore();
    assert.equal(readFileSync(path, 'utf8'), ORIGINAL);
    assert.equal(existsSync(backup), false);
  });
  // A crash of an older Weft (the backup named only in the marker line).
  await inTemp(async (dir) => {
    const path = join(dir, 'resolv.conf');
    const backup = join(dir, 'old-backup.conf');
    writeFileSync(backup, ORIGINAL);
    writeFileSync(path, `${WEFT_MARKER}: MagicDNS; the previous file is ${backup} and comes back on weft down\nnameserver 100.100.100.100\n`);
    const c = new ResolvConfConfigurator({ path });
    assert.deepEqual((await c.apply(settings('weft0'))).upstreams, UPSTREAMS);
    await c.restore();
    assert.equal(readFileSync(path, 'utf8'), ORIGINAL);
    assert.deepEqual(readdirSync(dir), ['resolv.conf']);
  });
});

test('no file before: the last restore removes ours, and only ours', async () => {
  await inTemp(async (dir) => {
    const path = join(dir, 'resolv.conf');
    const [a, b] = [new ResolvConfConfigurator({ path }), new ResolvConfConfigurator({ path })];
    assert.deepEqual((await a.apply(settings('weft0'))).upstreams, []);
    await b.apply(settings('weft1'));
    await a.restore();
    assert.ok(readFileSync(path, 'utf8').startsWith(WEFT_MARKER), 'b is still up');
    await b.restore();
    assert.equal(existsSync(path), false);

    // Replaced by someone else while we were up: left alone.
    await a.apply(settings('weft0'));
    writeFileSync(path, 'nameserver 192.0.2.7\n');
    await a.restore();
    assert.equal(readFileSync(path, 'utf8'), 'nameserver 192.0.2.7\n');
  });
});

test('lock: a stale lock (dead pid, or too old) is taken over; a held one fails apply with ERR_DNS_OS_CONFIG', async () => {
  await inTemp(async (dir) => {
    makeOriginal(dir, 'file');
    const path = join(dir, 'resolv.conf');
    const c = new ResolvConfConfigurator({ path, lockWaitMs: 300 });
    writeFileSync(c.lockPath, `${DEAD_PID} crashed\n`);
    assert.deepEqual((await c.apply(settings('weft0'))).upstreams, UPSTREAMS);
    assert.equal(existsSync(c.lockPath), false);

    // A live pid that has held it for 20 s is hung (or the pid was reused).
    writeFileSync(c.lockPath, `${process.pid} hung\n`);
    const old = (Date.now() - 20_000) / 1000;
    utimesSync(c.lockPath, old, old);
    await c.restore();
    assertOriginal(dir, 'file', 'after restore with an old lock');
    assert.equal(existsSync(c.lockPath), false);

    // Held by a live process: apply gives up after lockWaitMs, restore leaves all alone.
    writeFileSync(c.lockPath, `${process.pid} busy\n`);
    const t0 = Date.now();
    await assert.rejects(c.apply(settings('weft0')), { name: 'DnsError', code: 'ERR_DNS_OS_CONFIG' });
    assert.ok(Date.now() - t0 >= 250);
    assertOriginal(dir, 'file', 'after a failed apply');
    await c.restore();
    assert.equal(readFileSync(c.lockPath, 'utf8'), `${process.pid} busy\n`);
    rmSync(c.lockPath);
    await c.apply(settings('weft0'));
    await c.restore();
    assertOriginal(dir, 'file', 'end');
    assert.deepEqual(readdirSync(dir), ['resolv.conf']);
  });
});
