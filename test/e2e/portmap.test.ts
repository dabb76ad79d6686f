// Port mapping in the NAT lab: EDM routers (a random port per destination) running
// Debian's miniupnpd (src/lab/miniupnpd.ts). Each protocol client against it; agents that
// map their port go direct EDM<->EDM; `--no-port-mapping` leaves no mapping on the
// router and the pair on the relay; `weft down` deletes the mapping.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { StatusJson } from '../../src/agent/status.js';
import { WEFT_JS } from '../../src/lab/mesh.js';
import { miniupnpdMappings } from '../../src/lab/miniupnpd.js';
import { NatLab, PORTMAP_INET, type SiteSpec } from '../../src/lab/nat-lab.js';
import { sleep } from '../../src/lab/netns.js';
import { missingTools, requireOrSkip, rootReason, type SkipContext } from '../../src/lab/require.js';
import { e2eFile } from './helpers.js';

e2eFile();

const TOOLS = ['ip', 'ping', 'iptables', 'sysctl', 'nft', 'miniupnpd'];
const SITES: SiteSpec[] = [
  { name: 'pmA', kind: 'edm', nodes: ['pm1'], portMapping: true },
  { name: 'pmB', kind: 'edm', nodes: ['pm2'], portMapping: true },
  { name: 'offA', kind: 'edm', nodes: ['off1'], portMapping: true },
  { name: 'offB', kind: 'edm', nodes: ['off2'], portMapping: true },
];
const PORTMAP_DIR = fileURLToPath(new URL('../../src/nat/portmap/', import.meta.url));

function pre(t: SkipContext): boolean {
  return requireOrSkip(t, [rootReason(), ...missingTools(TOOLS), existsSync(WEFT_JS) ? null : `weft not built (${WEFT_JS})`]);
}

describe('port mapping: miniupnpd on EDM routers', { timeout: 300_000 }, () => {
  let lab: NatLab | null = null;

  before(async () => {
    if (rootReason() !== null || missingTools(TOOLS).length) return;
    lab = new NatLab({ inet: PORTMAP_INET });
    await lab.build(SITES);
    await lab.startServer();
    await lab.createAuthKey();
  });

  after(async () => {
    await lab?.destroy();
  });

  const L = (): NatLab => {
    assert.ok(lab, 'lab set up');
    return lab;
  };
  const wanOf = (site: string): string => L().site(site).wanIp;

  /** Node code that builds protocol client `c` for `node` against its gateway, then runs `body`. */
  function clientScript(node: string, client: 'PcpClient' | 'NatPmpClient' | 'UpnpClient', body: string): string {
    const n = L().node(node);
    const gw = `192.168.${L().site(n.site).index}.1`;
    return `
      import { newPortMapStats } from '${PORTMAP_DIR}types.js';
      import { UdpExchange } from '${PORTMAP_DIR}udp-exchange.js';
      import { ${client} } from '${PORTMAP_DIR}${client === 'PcpClient' ? 'pcp' : client === 'NatPmpClient' ? 'natpmp' : 'upnp'}.js';
      const stats = newPortMapStats();
      const udp = new UdpExchange({ gatewayIp: '${gw}', port: 5351, localIp: '${n.lanIp}', stats });
      const c = ${client === 'PcpClient' ? `new PcpClient(udp, '${n.lanIp}')` : client === 'NatPmpClient' ? 'new NatPmpClient(udp)' : `new UpnpClient({ gatewayIp: '${gw}', localIp: '${n.lanIp}', stats })`};
      const next = () => new Promise((r) => process.stdin.once('data', r));
      ${body}
    `;
  }

  /** Runs one protocol client in `node`'s namespace: map, list the router's rules, delete. */
  async function mapWith(node: string, client: 'PcpClient' | 'NatPmpClient' | 'UpnpClient', internalPort: number): Promise<{ external: string; protocol: string }> {
    const n = L().node(node);
    const script = clientScript(node, client, `
      const m = await c.map(${internalPort}, 120);
      process.stdout.write(JSON.stringify(m) + '\\n');
      await next();
      await c.unmap();
      process.stdout.write('deleted\\n');
    `);
    const child = L().lab.spawn(n.ns, [process.execPath, '--input-type=module', '-e', script], { stdin: true });
    const m = await child.waitFor(/^(\{.*\})$/m, 15_000);
    const mapping = JSON.parse(m[1]) as { external: string; protocol: string };
    const rules = await miniupnpdMappings(L().lab, L().site(n.site).router);
    assert.ok(rules.some((r) => r.includes(`${n.lanIp}:${internalPort}`) || r.includes(`${n.lanIp} :${internalPort}`)), `${client}: a DNAT rule to ${n.lanIp}:${internalPort} in ${JSON.stringify(rules)}`);
    child.proc.stdin!.write('go\n');
    await child.waitFor(/^deleted$/m, 15_000);
    await child.wait(5000);
    const after = await miniupnpdMappings(L().lab, L().site(n.site).router);
    assert.ok(!after.some((r) => r.includes(`:${internalPort}`)), `${client}: rule deleted, left ${JSON.stringify(after)}`);
    return mapping;
  }

  test('PCP, NAT-PMP and UPnP IGD each map a port on miniupnpd and delete it', async (t) => {
    if (!pre(t)) return;
    for (const [i, client] of (['PcpClient', 'NatPmpClient', 'UpnpClient'] as const).entries()) {
      const m = await mapWith('off1', client, 42000 + i);
      t.diagnostic(`${client}: ${JSON.stringify(m)}`);
      assert.match(m.external, new RegExp(`^${wanOf('offA').replace(/\./g, '\\.')}:\\d+$`), 'the router\'s public address');
    }
  });

  test('PCP epoch: after miniupnpd restarts (mappings gone, epoch reset) an ANNOUNCE tells the client, which maps again', async (t) => {
    if (!pre(t)) return;
    const lab = L();
    const n = lab.node('off2');
    const router = lab.site(n.site).router;
    const child = lab.lab.spawn(n.ns, [process.execPath, '--input-type=module', '-e', clientScript('off2', 'PcpClient', `
      await c.map(42100, 120);
      process.stdout.write('lost before: ' + (await c.stateLost()) + '\\n');
      await next();
      process.stdout.write('lost after: ' + (await c.stateLost()) + '\\n');
      await c.map(42100, 120);
      process.stdout.write('mapped again\\n');
      await next();
      await c.unmap();
      process.stdout.write('deleted\\n');
    `)], { stdin: true });
    assert.equal((await child.waitFor(/^lost before: (\w+)$/m, 15_000))[1], 'false', 'no restart: epoch in step');
    const has = async (): Promise<boolean> => (await miniupnpdMappings(lab.lab, router)).some((r) => r.includes(`${n.lanIp}:42100`) || r.includes(`${n.lanIp} :42100`));
    assert.ok(await has(), 'mapped');
    await sleep(2500); // the restarted daemon's epoch must fall visibly behind ours
    await lab.restartPortMapping(n.site);
    assert.equal(await has(), false, 'the restart dropped the mapping');
    child.proc.stdin!.write('go\n');
    assert.equal((await child.waitFor(/^lost after: (\w+)$/m, 15_000))[1], 'true', 'epoch reset seen');
    await child.waitFor(/^mapped again$/m, 15_000);
    assert.ok(await has(), 'mapped again');
    child.proc.stdin!.write('go\n');
    await child.waitFor(/^deleted$/m, 15_000);
    await child.wait(5000);
  });

  async function pathBetween(a: string, b: string): Promise<StatusJson['peers'][number] | undefined> {
    return (await L().status(a)).peers.find((p) => p.name === b);
  }

  /** Pings until the pair reports `want` both ways; ms from `t0`, or null after `ms`. */
  async function waitPath(a: string, b: string, want: string, ms: number, t0: number): Promise<number | null> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      await L().ping(a, L().node(b).ipv4, 1, 0.2);
      if ((await pathBetween(a, b))?.path === want && (await pathBetween(b, a))?.path === want) return Date.now() - t0;
      await sleep(500);
    }
    return null;
  }

  test('with port mapping an EDM<->EDM pair goes direct over the mapped port', async (t) => {
    if (!pre(t)) return;
    const lab = L();
    const t0 = Date.now();
    await Promise.all(['pm1', 'pm2'].map((n) => lab.up(n)));
    for (const n of ['pm1', 'pm2']) await lab.waitPeers(n, 1);
    const ms = await waitPath('pm1', 'pm2', 'direct', 30_000, t0);
    const p = await pathBetween('pm1', 'pm2');
    t.diagnostic(`pm1 <-> pm2 direct ${ms} ms after weft up (${p?.endpoint})`);
    assert.ok(ms !== null, `pm1 -> pm2: ${JSON.stringify(p)}`);
    const nat = (await lab.status('pm2')).nat as { portMapping?: { protocol: string; external: string } };
    assert.equal(nat.portMapping?.protocol, 'pcp', JSON.stringify(nat.portMapping));
    assert.match(nat.portMapping!.external, new RegExp(`^${wanOf('pmB').replace(/\./g, '\\.')}:\\d+$`));
    assert.ok((await miniupnpdMappings(lab.lab, lab.site('pmB').router)).some((r) => r.includes(lab.node('pm2').lanIp)));
    assert.equal((await lab.ping('pm1', lab.node('pm2').ipv4, 3, 0.2)).received > 0, true);
  });

  test('--no-port-mapping: no mapping on the router and the EDM pair stays on the relay', async (t) => {
    if (!pre(t)) return;
    const lab = L();
    await Promise.all(['off1', 'off2'].map((n) => lab.up(n, ['--no-port-mapping'])));
    for (const n of ['off1', 'off2']) await lab.waitPeers(n, 3);
    assert.ok((await lab.ping('off1', lab.node('off2').ipv4, 3, 0.2)).received > 0, 'relayed traffic flows');
    await sleep(10_000); // time enough for a mapping and path discovery (the pair above went direct in less)
    for (const site of ['offA', 'offB']) assert.deepEqual(await miniupnpdMappings(lab.lab, lab.site(site).router), [], `${site}: no mapping`);
    const p = await pathBetween('off1', 'off2');
    assert.equal(p?.path, 'relay', JSON.stringify(p));
    const nat = (await lab.status('off1')).nat as { portMapping?: unknown };
    assert.equal(nat.portMapping, null);
  });

  test('weft down deletes the mapping on the router', async (t) => {
    if (!pre(t)) return;
    const lab = L();
    const router = lab.site('pmA').router;
    assert.ok((await miniupnpdMappings(lab.lab, router)).some((r) => r.includes(lab.node('pm1').lanIp)), 'pm1 mapped while up');
    await lab.down('pm1');
    assert.deepEqual(await miniupnpdMappings(lab.lab, router), []);
  });
});
