// One agent's use of a shared resolv.conf, for test/integration/resolv-conf-agents.test.ts:
// `rounds` times apply(), check the file points at MagicDNS and the returned upstreams,
// sleep a few random ms, restore(). Round 0 means: apply, print "up", wait to be killed
// (a crash). Exits 1 with the reason on stderr when a check fails.
// argv: <resolv.conf> <backup path> <iface> <rounds> <expected upstreams, comma-separated>
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ResolvConfConfigurator } from '../../src/dns/os-config.js';
import { WEFT_MARKER } from '../../src/dns/resolv-conf.js';

const [path, backupPath, iface, roundsArg, expected] = process.argv.slice(2);
const rounds = Number(roundsArg);
const os = new ResolvConfConfigurator({ path, backupPath });
const settings = { iface, nameserver: '100.100.100.100', domain: 'weft.internal' };

function check(ok: boolean, what: string): void {
  if (ok) return;
  process.stderr.write(`${iface}: ${what}\n`);
  process.exit(1);
}

if (rounds === 0) {
  await os.apply(settings);
  process.stdout.write('up\n');
  setInterval(() => {}, 1000);
} else {
  for (let i = 0; i < rounds; i++) {
    const { upstreams } = await os.apply(settings);
    check(upstreams.join(',') === expected, `round ${i}: upstreams ${upstreams.join(',')}`);
    await sleep(Math.random() * 5);
    check(readFileSync(path, 'utf8').startsWith(WEFT_MARKER), `round ${i}: not MagicDNS while up`);
    await os.restore();
    await sleep(Math.random() * 3);
  }
}
