// A network that passes only web traffic (TCP 443, nothing else — no UDP, no other
// ports): `weft server` on 443 with TLS serves the API and its embedded relay there, and a
// node on that network reaches a node elsewhere through the relay. A browser opening the
// relay's URL sees an ordinary page. (src/lab/nat-lab.ts, site kind `web`.)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NatLab, SERVER_IP, type SiteSpec } from '../../src/lab/nat-lab.js';
import { runOk } from '../../src/lab/netns.js';
import { missingTools, requireOrSkip, rootReason, type SkipContext } from '../../src/lab/require.js';
import { waitForAsync } from '../helpers/wait.js';
import { e2eFile } from './helpers.js';

e2eFile();

const SITES: SiteSpec[] = [
  { name: 'webA', kind: 'web', nodes: ['web1'] },
  { name: 'eimA', kind: 'eim', nodes: ['eim1'] },
];
const TOOLS = ['ip', 'ping', 'iptables', 'sysctl', 'openssl', 'curl'];
const pre = (t: SkipContext): boolean => requireOrSkip(t, [rootReason(), ...missingTools(TOOLS)]);

describe('a web-only network reaches the mesh through the relay on TCP 443', { timeout: 180_000 }, () => {
  let lab: NatLab | null = null;
  let cert = '';

  before(async () => {
    if (rootReason() !== null || missingTools(TOOLS).length) return;
    lab = new NatLab();
    await lab.build(SITES);
    cert = join(lab.dir, 'cert.pem');
    const key = join(lab.dir, 'key.pem');
    await runOk(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', `/CN=${SERVER_IP}`,
      '-addext', `subjectAltName=IP:${SERVER_IP}`, '-keyout', key, '-out', cert]);
    lab.env = { ...lab.env, NODE_EXTRA_CA_CERTS: cert };
    const url = `https://${SERVER_IP}`;
    await lab.startServer(['--listen', '0.0.0.0:443', '--tls-cert', cert, '--tls-key', key, '--public-url', url, '--stun-port', '3478'], url);
    await lab.createAuthKey();
    await Promise.all(SITES.flatMap((s) => s.nodes).map((n) => lab!.up(n)));
    for (const n of ['web1', 'eim1']) await lab.waitPeers(n, 1);
  });

  after(async () => {
    await lab?.destroy();
  });

  test('only TCP 443 leaves the web-only site', async (t) => {
    if (!pre(t)) return;
    assert.ok(lab);
    const web1 = lab.node('web1');
    const udp = await lab.lab.exec(web1.ns, ['ping', '-n', '-c', '1', '-W', '1', SERVER_IP], { timeoutMs: 5000 });
    assert.notEqual(udp.code, 0, 'ICMP is dropped by the web-only router');
    const page = await lab.lab.exec(web1.ns, ['curl', '-sS', '--cacert', cert, '-o', '-', '-w', '\n%{http_code} %{content_type}', `https://${SERVER_IP}/relay`], { timeoutMs: 10_000 });
    assert.equal(page.code, 0, page.stderr);
    assert.match(page.stdout, /<title>Weft relay<\/title>/);
    assert.match(page.stdout, /\n200 text\/html/);
  });

  test('the node on the web-only site pings the other node over the relay on 443', async (t) => {
    if (!pre(t)) return;
    assert.ok(lab);
    const cached = readFileSync(join(lab.node('web1').stateDir, 'netmap.json'), 'utf8');
    assert.match(cached, /"url":"wss:\/\/203\.0\.113\.1(:443)?\/relay"/, 'the relay is announced as wss on 443');
    const target = lab.node('eim1').ipv4;
    assert.ok(await waitForAsync(async () => (await lab!.ping('web1', target, 1, 0.2)).received > 0, 15_000), 'web1 reaches eim1');
    const via = await lab.weftPing('web1', 'eim1');
    assert.ok(via && /^relay /.test(via.via), `web1 reaches eim1 over the relay: ${JSON.stringify(via)}`);
    const back = await lab.weftPing('eim1', 'web1');
    assert.ok(back && /^relay /.test(back.via), `eim1 reaches web1 over the relay: ${JSON.stringify(back)}`);
  });
});
