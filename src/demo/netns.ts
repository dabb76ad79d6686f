// The root demo: `weft server`, `weft keys create`, `weft up` (real processes, real TUN
// devices) in four network namespaces, then pings every pair and prints `weft status`.
import { NetnsMesh } from '../lab/mesh.js';
import { formatStatus } from '../agent/status.js';

const NAMES = ['alpha', 'beta', 'gamma'];
const PING_DEADLINE_S = 10;

/** What `a`'s agent says about its path to `b`: the reason a ping failed. */
async function whyNot(mesh: NetnsMesh, a: string, b: string): Promise<string> {
  try {
    const p = (await mesh.status(a)).peers.find((x) => x.name === b);
    if (!p) return `${a} has no peer ${b} in its netmap`;
    const path = p.path === 'none' ? 'no path' : `${p.path} ${p.endpoint ?? ''}`.trim();
    return `${a} sees ${b} ${p.online ? 'online' : 'offline'}, ${path}${p.pathReason ? ` (${p.pathReason})` : ''}, last handshake ${p.latestHandshake ?? 'never'}, rx ${p.rxBytes} tx ${p.txBytes} bytes`;
  } catch (err) {
    return `weft status on ${a} failed: ${(err as Error).message}`;
  }
}

export async function netnsDemo(print: (line: string) => void): Promise<boolean> {
  const mesh = new NetnsMesh();
  let interrupted = false;
  // After Ctrl-C the steps still running fail as the lab goes away: keep them quiet.
  const say = (line: string) => void (interrupted || print(line));
  // One cleanup, whoever asks first (the signal handler or the finally below) and both wait for it.
  let cleaning: Promise<void> | null = null;
  const cleanup = () => (cleaning ??= mesh.destroy());
  const onSignal = () => {
    print('\ninterrupted: cleaning up');
    interrupted = true;
    void cleanup().then(() => {
      print('cleaned up: processes stopped, namespaces deleted');
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await mesh.build(NAMES);
    await mesh.startServer();
    say(`coordinator   weft server on ${mesh.serverUrl} (namespace ${mesh.lanNs})`);
    await mesh.createAuthKey();
    say(`auth key      weft keys create --reusable -> ${mesh.authKey.slice(0, 12)}…`);
    for (const n of NAMES) {
      const node = await mesh.up(n);
      say(`node          weft up --hostname ${n.padEnd(6)} -> ${node.ipv4.padEnd(11)} ${node.ipv6}  (LAN ${node.lanIp}, ns ${node.ns})`);
    }
    for (const n of NAMES) await mesh.waitPeers(n, NAMES.filter((x) => x !== n));
    let ok = true;
    say('\nping (system ping to mesh IPs, through the kernel and the WireGuard tunnels):');
    for (const a of NAMES)
      for (const b of NAMES) {
        if (a === b) continue;
        const cells: string[] = [];
        let failed = false;
        for (const ip of [mesh.node(b).ipv4, mesh.node(b).ipv6]) {
          // Up to 10 s, as a user would wait, for the first of two replies.
          const r = await mesh.ping(a, ip, 2, PING_DEADLINE_S);
          failed ||= r.received === 0;
          cells.push(`${ip} ${r.received > 0 ? 'ok' : 'FAIL'}`);
        }
        ok &&= !failed;
        say(`  ${a.padEnd(5)} -> ${b.padEnd(5)}  ${cells.join('   ')}`);
        if (failed) say(`        why: ${await whyNot(mesh, a, b)}`);
      }
    say('\nweft ping (echo built and matched inside the engine):');
    for (const a of NAMES)
      for (const b of NAMES) {
        if (a === b) continue;
        const r = await mesh.weft(mesh.node(a).ns, ['ping', b, '--count', '1', '--state-dir', mesh.node(a).stateDir]);
        ok &&= r.code === 0;
        say(`  ${a.padEnd(5)} $ weft ping ${b.padEnd(5)}  ${(r.stdout.trim() || r.stderr.trim()).split('\n')[0]}`);
      }
    say('\nweft status (on alpha):');
    say(formatStatus(await mesh.status('alpha')).replace(/^/gm, '  '));
    return ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
    print('\ncleaned up: processes stopped, namespaces deleted');
  }
}
