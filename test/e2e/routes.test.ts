// End to end (routes branch): an exit node with an "internet" host reachable only
// through it, a subnet router with a LAN host that runs no agent, and a client, each in
// its own namespace, driven through the `weft` CLI.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetnsMesh, WEFT_JS } from '../../src/lab/mesh.js';
import { sleep } from '../../src/lab/netns.js';
import { missingTools, requireOrSkip, rootReason, type SkipContext } from '../../src/lab/require.js';
import type { RouteView } from '../../src/wire/control.js';
import { e2eFile, suiteMesh } from './helpers.js';

e2eFile();

const NAMES = ['exit', 'router', 'client'];
const TOOLS = ['ip', 'ping', 'curl', 'nft'];

function pre(t: SkipContext): boolean {
  return requireOrSkip(t, [rootReason(), ...missingTools(TOOLS), existsSync(WEFT_JS) ? null : `weft not built (${WEFT_JS})`]);
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

describe('exit node and subnet router', { timeout: 300_000 }, () => {
  const fx = suiteMesh();
  let inet: Awaited<ReturnType<NetnsMesh['addHostBehind']>>;
  let lan: Awaited<ReturnType<NetnsMesh['addHostBehind']>>;

  before(async () => {
    if (rootReason() !== null || missingTools(TOOLS).length) return;
    const mesh = fx.create();
    await mesh.build(NAMES);
    inet = await mesh.addHostBehind('exit', '203.0.113', '2001:db8:113');
    lan = await mesh.addHostBehind('router', '10.77.0', 'fd77:77');
    // A second "internet" address the exit policy blocks.
    await mesh.lab.exec(inet.ns, ['ip', 'addr', 'add', '203.0.113.9/24', 'dev', 'eth0']);
    mesh.serveRemoteAddress(inet.ns, 80);
    mesh.serveRemoteAddress(inet.ns, 8080);
    mesh.serveRemoteAddress(lan.ns, 80);
    mesh.serveRemoteAddress(lan.ns, 8081);
    await mesh.startServer();
    await mesh.createAuthKey();
    await mesh.up('exit', ['--advertise-exit-node', '--exit-policy-allow-ports', '80', '--exit-policy-block', '203.0.113.9/32']);
    await mesh.up('router', ['--advertise-routes', '10.77.0.0/24']);
    await mesh.up('client');
    for (const n of NAMES) await mesh.waitPeers(n, NAMES.filter((x) => x !== n));
    fx.ready();
  });

  const m = fx.get;
  const admin = async (args: string[]): Promise<string> => {
    const r = await m().weft(m().lanNs, [...args, '--state-dir', m().serverStateDir]);
    assert.equal(r.code, 0, `weft ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const routes = async (): Promise<RouteView[]> => JSON.parse(await admin(['routes', 'list', '--json'])) as RouteView[];
  const set = async (node: string, args: string[]) => {
    const n = m().node(node);
    const r = await m().weft(n.ns, ['set', ...args, '--state-dir', n.stateDir]);
    assert.equal(r.code, 0, `weft set ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  test('advertised routes are listed, unapproved, and nothing is routed before approval', async (t) => {
    if (!pre(t)) return;
    const list = await until('routes advertised', async () => {
      const l = await routes();
      return l.length === 2 ? l : null;
    });
    assert.deepEqual(
      list.map((r) => `${r.node} ${r.route} ${r.approved} ${r.exitNode}`).sort(),
      ['exit exit false true', 'router 10.77.0.0/24 false false'],
    );
    assert.equal((await m().ping('client', lan.ipv4, 1)).received, 0, 'LAN host unreachable before approval');
    assert.equal(await m().fetchText(m().node('client').ns, `http://${lan.ipv4}/`, 2), null);
  });

  test('a LAN host behind an approved subnet router is reachable by its LAN address', async (t) => {
    if (!pre(t)) return;
    await admin(['routes', 'approve', 'router', '10.77.0.0/24']);
    await until('LAN host reachable from client', async () => (await m().ping('client', lan.ipv4, 1)).received >= 1, 20_000);
    // Masqueraded (the default): the LAN host sees the router's LAN address.
    assert.equal(await m().fetchText(m().node('client').ns, `http://${lan.ipv4}/`), lan.routerIpv4);
    // The exit node (another peer) reaches it too.
    await until('LAN host reachable from exit', async () => (await m().ping('exit', lan.ipv4, 1)).received >= 1, 20_000);
  });

  test('a client using the approved exit node reaches the internet host as the exit node; policy enforced', async (t) => {
    if (!pre(t)) return;
    const cns = m().node('client').ns;
    assert.equal(await m().fetchText(cns, `http://${inet.ipv4}/`, 2), null, 'no route to the internet host without the exit node');
    const out = await set('client', ['--exit-node', 'exit']);
    assert.match(out, /not-approved/);
    await admin(['routes', 'approve', 'exit', 'exit']);
    await until('exit node active', async () => (await m().status('client')).exitNode?.state === 'active');
    const seen = await until('internet host reachable via exit node', () => m().fetchText(cns, `http://${inet.ipv4}/`, 2), 20_000);
    assert.equal(seen, inet.routerIpv4, 'source address seen by the host is the exit node');
    assert.equal(await m().fetchText(cns, `http://[${inet.ipv6}]/`), inet.routerIpv6, 'IPv6 goes through the exit node too');
    // Exit policy: port 8080 not allowed, 203.0.113.9 blocked.
    assert.equal(await m().fetchText(cns, `http://${inet.ipv4}:8080/`, 2), null, 'port outside the exit policy');
    assert.equal(await m().fetchText(cns, `http://203.0.113.9/`, 2), null, 'blocked CIDR');
    // The coordinator and the peers keep their direct paths.
    const s = await m().status('client');
    assert.equal(s.coordinator.connected, true);
    const rget = await m().lab.exec(cns, ['ip', 'route', 'get', m().serverUrl.replace(/^http:\/\/|:\d+$/g, '')]);
    assert.doesNotMatch(rget.stdout, /weft0/, `coordinator not through the tunnel: ${rget.stdout}`);
    for (const peer of ['exit', 'router']) {
      const p = s.peers.find((x) => x.name === peer)!;
      assert.equal(p.path, 'direct');
      assert.match(p.endpoint ?? '', /^10\.99\.0\./, `${peer} reached on its LAN endpoint`);
      assert.ok((await m().ping('client', m().node(peer).ipv4, 1)).received >= 1);
    }
    // Subnet routes still work alongside.
    assert.equal(await m().fetchText(cns, `http://${lan.ipv4}/`), lan.routerIpv4);
    // Unmarked traffic goes into the tunnel; the engine's own (marked) keeps main.
    assert.match((await m().lab.exec(cns, ['ip', 'route', 'get', '198.51.100.1'])).stdout, /dev weft0/);
    assert.doesNotMatch((await m().lab.exec(cns, ['ip', 'route', 'get', '198.51.100.1', 'mark', '0x5746'])).stdout, /dev weft0/);
  });

  test('v5: ACL destinations govern the subnet route (LANHOST/32:80 only) and the exit node', async (t) => {
    if (!pre(t)) return;
    const cns = m().node('client').ns;
    const setPolicy = async (text: string): Promise<void> => {
      const file = join(m().dir, 'policy.hujson');
      writeFileSync(file, text);
      await admin(['policy', 'set', file]);
    };
    // Allow-all so far: the other LAN port is reachable through the router.
    assert.equal(await m().fetchText(cns, `http://${lan.ipv4}:8081/`), lan.routerIpv4);
    await setPolicy(JSON.stringify({
      hosts: { lanhost: `${lan.ipv4}/32` },
      acls: [
        // The nodes keep talking to each other; only the client may use the exit node.
        { action: 'accept', src: ['*'], dst: NAMES.map((n) => `${n}:*`) },
        { action: 'accept', src: ['client'], dst: ['lanhost:80', 'autogroup:internet:*'] },
      ],
    }));
    await until('LAN port 8081 closed through the router', async () => (await m().fetchText(cns, `http://${lan.ipv4}:8081/`, 2)) === null, 20_000);
    assert.equal(await m().fetchText(cns, `http://${lan.ipv4}/`), lan.routerIpv4, 'lanhost:80 still allowed');
    assert.ok((await m().ping('client', lan.ipv4, 1)).received >= 1, 'ICMP echo: a rule admits the client to the LAN host');
    assert.equal(await m().fetchText(m().node('exit').ns, `http://${lan.ipv4}/`, 2), null, 'the exit node has no rule for the LAN');
    assert.ok(((await m().status('router')).filter?.droppedForward ?? 0) > 0, 'drops counted on the router');
    // autogroup:internet keeps the exit node usable for the client.
    assert.equal(await m().fetchText(cns, `http://${inet.ipv4}/`), inet.routerIpv4);
    // No internet rule: the exit node refuses the client's traffic.
    await setPolicy(JSON.stringify({ acls: [{ action: 'accept', src: ['*'], dst: NAMES.map((n) => `${n}:*`) }] }));
    await until('exit node closed', async () => (await m().fetchText(cns, `http://${inet.ipv4}/`, 2)) === null, 20_000);
    await setPolicy('{ "acls": [ { "action": "accept", "src": ["*"], "dst": ["*:*"] } ] }');
    await until('LAN port 8081 open again', () => m().fetchText(cns, `http://${lan.ipv4}:8081/`, 2), 20_000);
    await until('internet via the exit node again', () => m().fetchText(cns, `http://${inet.ipv4}/`, 2), 20_000);
  });

  test('the exit node leaves no rules, routes or sysctls behind after weft down; the client does not leak', async (t) => {
    if (!pre(t)) return;
    const ens = m().node('exit').ns;
    const nftBefore = (await m().lab.exec(ens, ['nft', 'list', 'tables'])).stdout;
    assert.match(nftBefore, /weft-exit/);
    assert.equal((await m().lab.exec(ens, ['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim(), '1');
    await m().down('exit');
    assert.doesNotMatch((await m().lab.exec(ens, ['nft', 'list', 'ruleset'])).stdout, /weft/);
    const ipt = await m().lab.exec(ens, ['sh', '-c', 'iptables-save 2>/dev/null; ip6tables-save 2>/dev/null']);
    assert.doesNotMatch(ipt.stdout, /weft/i);
    assert.equal((await m().lab.exec(ens, ['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim(), '0');
    assert.equal((await m().lab.exec(ens, ['sysctl', '-n', 'net.ipv6.conf.all.forwarding'])).stdout.trim(), '0');
    for (const f of ['-4', '-6']) {
      assert.doesNotMatch((await m().lab.exec(ens, ['ip', f, 'rule'])).stdout, /5746|^52\d\d:/m);
      assert.equal((await m().lab.exec(ens, ['ip', f, 'route', 'show', 'table', '5746'])).stdout.trim(), '');
    }
    // The client: the exit node is gone; by default its traffic stays in the tunnel (dropped).
    const cns = m().node('client').ns;
    await admin(['nodes', 'rm', 'exit']);
    await until('client sees the exit node gone', async () => (await m().status('client')).exitNode?.state === 'not-found');
    assert.match((await m().lab.exec(cns, ['ip', 'route', 'get', '198.51.100.1'])).stdout, /dev weft0/, 'kill switch keeps the route into the tunnel');
    assert.equal(await m().fetchText(cns, `http://${inet.ipv4}/`, 2), null);
    assert.equal((await m().status('client')).coordinator.connected, true);
    await set('client', ['--exit-node-fallback', 'direct']);
    const direct = await m().lab.exec(cns, ['ip', 'route', 'get', '198.51.100.1']);
    assert.doesNotMatch(direct.stdout, /weft0/, 'fallback direct removes it');
    await set('client', ['--exit-node', '']);
    assert.equal((await m().status('client')).exitNode, null);
    // The client still routes the approved subnet.
    assert.equal(await m().fetchText(cns, `http://${lan.ipv4}/`), lan.routerIpv4);
  });

  test('iptables backend; after a crash (SIGKILL) the next start removes the stale rules', async (t) => {
    if (!pre(t) || missingTools(['iptables-save']).length) return;
    const mesh = m();
    const ens = mesh.node('exit').ns;
    const cns = mesh.node('client').ns;
    const iptSave = async () => (await mesh.lab.exec(ens, ['sh', '-c', 'iptables-save; ip6tables-save'])).stdout;
    // The node was removed from the coordinator: register it afresh (same node key).
    rmSync(join(mesh.node('exit').stateDir, 'state.json'), { force: true });
    const baseEnv = mesh.env;
    mesh.env = { ...baseEnv, WEFT_FIREWALL: 'iptables' };
    try {
      await mesh.up('exit', ['--advertise-exit-node']);
    } finally {
      mesh.env = baseEnv;
    }
    await until('exit re-advertised', async () => (await routes()).some((r) => r.node === 'exit' && r.exitNode));
    await admin(['routes', 'approve', 'exit', 'exit']);
    await until('iptables rules in place', async () => /WEFT-POSTROUTING.*MASQUERADE/.test(await iptSave()));
    assert.doesNotMatch((await mesh.lab.exec(ens, ['nft', 'list', 'tables'])).stdout, /weft-exit/);
    await mesh.waitPeers('client', ['exit', 'router']);
    await set('client', ['--exit-node', 'exit', '--exit-node-fallback', 'block']);
    const seen = await until('internet host via the iptables exit node', () => mesh.fetchText(cns, `http://${inet.ipv4}/`, 2), 20_000);
    assert.equal(seen, inet.routerIpv4);
    // Crash: rules and sysctls stay behind.
    await mesh.node('exit').agent!.kill('SIGKILL', 1000);
    mesh.node('exit').agent = null;
    assert.match(await iptSave(), /weft/);
    // Restart (nftables this time): stale iptables rules go, and the node works again.
    await mesh.up('exit', ['--advertise-exit-node']);
    await until('nft table back', async () => /weft-exit/.test((await mesh.lab.exec(ens, ['nft', 'list', 'tables'])).stdout));
    assert.doesNotMatch(await iptSave(), /weft/i, 'stale iptables rules removed at start');
    await until('internet host via the restarted exit node', async () => (await mesh.fetchText(cns, `http://${inet.ipv4}/`, 2)) === inet.routerIpv4, 30_000);
    await mesh.down('exit');
    assert.doesNotMatch((await mesh.lab.exec(ens, ['nft', 'list', 'ruleset'])).stdout, /weft/);
    assert.doesNotMatch(await iptSave(), /weft/i);
    assert.equal((await mesh.lab.exec(ens, ['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim(), '0', 'original sysctl restored after crash + restart + down');
  });
});
