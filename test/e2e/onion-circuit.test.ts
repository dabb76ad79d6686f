// End to end: six serverless agents in namespaces on one bridged LAN, started with the
// README's circuit commands (placeholders filled in; `--state-dir` and, since every
// member is on one LAN /16, `--circuit-allow-same-network` added). A host namespace
// linked only to the exit member's namespace serves HTTP; the client reaches it only
// through a 3-hop circuit built by `weft circuit build`: with plain curl (its TUN routes
// outside traffic into the circuit) and via its SOCKS5 entry. UDP to the outside is
// dropped and counted in `weft status`. A sixth member runs the client line on the
// userspace stack (`--tun=userspace` added) and reaches the host with `weft curl`.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { circuitSocksPath } from '../../src/agent/circuits.js';
import { WEFT_JS, type MeshNode } from '../../src/lab/mesh.js';
import { missingTools, requireOrSkip, rootReason, type SkipContext } from '../../src/lab/require.js';
import { socksConnect } from '../../src/netstack/socks5-client.js';
import { e2eFile, suiteMesh } from './helpers.js';
import { readmeLine, readmeLines } from './serverless-helpers.js';

e2eFile();

const NAMES = ['amber', 'birch', 'cedar', 'dune', 'elm', 'fir'];
const CLIENT = 'birch';
/** A second client on the userspace stack (`--tun=userspace` added to the client line). */
const USERSPACE = 'fir';
const EXIT = 'elm';
const HTTP_PORT = 8080;
/** The host behind the exit (benchmarking range, clear of the lab LAN 10.99.0.0/24). */
const DEST = '198.18.7.2';

function pre(t: SkipContext): boolean {
  return requireOrSkip(t, [rootReason(), ...missingTools(['ip', 'curl']), existsSync(WEFT_JS) ? null : `weft not built (${WEFT_JS})`]);
}

describe('a 3-hop onion circuit through six serverless agents', { timeout: 300_000 }, () => {
  const fx = suiteMesh();
  let lines: string[][] = [];
  /** The circuit's middle hop, from `weft circuit build`. */
  let middle = '';
  /** The exit's address on the host's link. */
  let exitSide = '';

  function fill(words: string[], n: MeshNode, extra: string[] = []): string[] {
    const seed = fx.get().node(NAMES[0]).lanIp;
    assert.equal(words[0], 'weft');
    return [...words.slice(1).map((w) => (w === 'gw' ? EXIT : w.replace('192.168.1.20', seed))), ...extra, '--state-dir', n.stateDir];
  }

  before(async () => {
    if (rootReason() !== null || missingTools(['ip', 'curl']).length) return;
    lines = readmeLines('circuit-commands');
    const serverless = readmeLines();
    const mesh = fx.create();
    await mesh.build(NAMES);
    fx.ready();
    const keys = new Map<string, string>();
    for (const n of mesh.nodes) {
      const r = await mesh.weft(n.ns, ['id', '--state-dir', n.stateDir]);
      assert.equal(r.code, 0, r.stderr);
      keys.set(n.name, r.stdout.trim());
    }
    const authorize = readmeLine(serverless, 'weft', 'keys', 'authorize', 'KEY', '--name', 'laptop');
    for (const n of mesh.nodes)
      for (const m of NAMES) {
        const args = [...authorize.slice(1).map((w) => (w === 'KEY' ? keys.get(m)! : w === 'laptop' ? m : w)), '--state-dir', n.stateDir];
        const r = await mesh.weft(n.ns, args);
        assert.equal(r.code, 0, r.stderr);
      }
    const host = await mesh.addHostBehind(EXIT, '198.18.7', 'fd99:0:0:7');
    assert.equal(host.ipv4, DEST);
    exitSide = host.routerIpv4;
    mesh.serveRemoteAddress(host.ns, HTTP_PORT);
    const same = ['--circuit-allow-same-network'];
    const up = lines.filter((l) => l[1] === 'up');
    const pick: Record<string, (l: string[]) => boolean> = {
      first: (l) => l.join(' ') === 'weft up --serverless --circuits',
      relay: (l) => l.includes('--seed') && l.length === 6 && l[5] === '--circuits',
      exit: (l) => l.includes('--circuit-exit'),
      client: (l) => l.includes('--exit-circuit'),
    };
    for (const n of mesh.nodes) {
      const role = n.name === NAMES[0] ? 'first' : n.name === EXIT ? 'exit' : n.name === CLIENT || n.name === USERSPACE ? 'client' : 'relay';
      const words = up.find(pick[role]);
      assert.ok(words, `README shows the up line for ${n.name}`);
      const extra = n.name === USERSPACE ? [...same, '--tun=userspace'] : same;
      // Debug logs: the middle relay's are searched for the destination below.
      await mesh.startAgent(n, [...mesh.cli, ...fill(words, n, extra)], { ...mesh.env, LOG_LEVEL: 'debug' });
    }
    for (const n of NAMES) await mesh.waitPeers(n, NAMES.filter((x) => x !== n), 30_000);
  });

  test('weft circuit build makes a 3-hop circuit ending at the exit', async (t) => {
    if (!pre(t)) return;
    const mesh = fx.get();
    const c = mesh.node(CLIENT);
    const build = lines.find((l) => l[1] === 'circuit');
    assert.ok(build, 'README shows weft circuit build');
    const r = await mesh.weft(c.ns, fill(build, c));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const m = /^weft: circuit (\S+) -> (\S+) -> (\S+) built in [\d.]+ ms$/m.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(m[3], EXIT);
    assert.ok(!m.slice(1, 3).includes(CLIENT) && m[1] !== m[2], `path ${m.slice(1).join(',')}`);
    middle = m[2];
  });

  test('plain curl on the client reaches the host through the circuit', async (t) => {
    if (!pre(t)) return;
    const mesh = fx.get();
    const c = mesh.node(CLIENT);
    const logs = () => [CLIENT, EXIT].map((n) => `--- ${n}:\n${mesh.node(n).agent?.stderr.slice(-4000)}`).join('\n');
    // No proxy flag: the client's default route leads into its TUN and on into the circuit.
    const r = await mesh.lab.exec(c.ns, ['curl', '-sS', '-m', '20', `http://${DEST}:${HTTP_PORT}/`], { timeoutMs: 30_000 });
    const st = await mesh.weft(c.ns, ['status', '--json', '--state-dir', c.stateDir]);
    assert.equal(st.code, 0, st.stderr);
    const circuit = JSON.parse(st.stdout).circuit;
    // The server saw the exit's address on its link: the exit made the connection.
    assert.equal(r.stdout, exitSide, `curl: ${r.code} ${r.stderr}\ncircuit: ${JSON.stringify(circuit)}\n${logs()}`);
    assert.ok(circuit.tun.accepted >= 1, JSON.stringify(circuit));
    assert.equal(circuit.path.at(-1), EXIT);
  });

  test('on the userspace stack, outside destinations dialled through its front doors go through the circuit', async (t) => {
    if (!pre(t)) return;
    const mesh = fx.get();
    const u = mesh.node(USERSPACE);
    const r = await mesh.weft(u.ns, ['curl', `http://${DEST}:${HTTP_PORT}/`, '--state-dir', u.stateDir]);
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}\n${u.agent?.stderr.slice(-3000)}`);
    assert.equal(r.stdout, exitSide);
    const st = await mesh.weft(u.ns, ['status', '--json', '--state-dir', u.stateDir]);
    assert.equal(st.code, 0, st.stderr);
    const circuit = JSON.parse(st.stdout).circuit;
    assert.equal(circuit.tun, undefined, 'no TUN forwarder on the userspace stack');
    assert.equal(circuit.path.at(-1), EXIT);
  });

  test('UDP from the client to the outside is dropped and counted, and weft status says so', async (t) => {
    if (!pre(t)) return;
    const mesh = fx.get();
    const c = mesh.node(CLIENT);
    const read = async () => {
      const st = await mesh.weft(c.ns, ['status', '--json', '--state-dir', c.stateDir]);
      assert.equal(st.code, 0, st.stderr);
      return JSON.parse(st.stdout).circuit.tun.nonTcpDropped as number;
    };
    const before = await read();
    const js = `const s=require('dgram').createSocket('udp4');let n=0;const go=()=>s.send('x',9,'${DEST}',()=>++n<3?go():s.close());go()`;
    const r = await mesh.lab.exec(c.ns, [process.execPath, '-e', js], { timeoutMs: 10_000 });
    assert.equal(r.code, 0, r.stderr);
    let after = before;
    for (let i = 0; i < 50 && after < before + 3; i++) {
      await new Promise((res) => setTimeout(res, 100));
      after = await read();
    }
    assert.ok(after >= before + 3, `non-TCP dropped ${before} -> ${after}`);
    const text = await mesh.weft(c.ns, ['status', '--state-dir', c.stateDir]);
    assert.match(text.stdout, /exit circuit .*non-TCP dropped/);
  });

  test('the SOCKS5 entry reaches the host through the circuit too, and it sees the exit', async (t) => {
    if (!pre(t)) return;
    const mesh = fx.get();
    const c = mesh.node(CLIENT);
    // The SOCKS5 entry is a unix socket in the client's state dir (reachable from here).
    const logs = () => [CLIENT, EXIT].map((n) => `--- ${n}:\n${mesh.node(n).agent?.stderr.slice(-4000)}`).join('\n');
    const s = await socksConnect(circuitSocksPath(c.stateDir), DEST, HTTP_PORT).catch((err: Error) => {
      throw new Error(`${err.message}\n${logs()}`);
    });
    s.end(`GET / HTTP/1.1\r\nHost: ${DEST}\r\nConnection: close\r\n\r\n`);
    let text = '';
    for await (const chunk of s) text += chunk;
    assert.match(text, /^HTTP\/1\.1 200/);
    // The server answered the exit's address on its link: the exit made the connection.
    assert.ok(text.endsWith(`\r\n\r\n${exitSide}`), text);
  });

  test('the middle hop never names the destination in its log', async (t) => {
    if (!pre(t)) return;
    // After the streams above crossed it (debug logs on); that it cannot tell the client's
    // streams from others' is asserted on its state in test/unit/onion-circuit.test.ts.
    assert.ok(middle, 'the build test found the middle hop');
    const mlog = fx.get().node(middle).agent?.stderr ?? '';
    assert.ok(mlog.length > 0 && !mlog.includes(DEST), `middle ${middle} log mentions the destination:\n${mlog.slice(-2000)}`);
  });
});
