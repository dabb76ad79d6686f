// TCP conformance of the userspace stack against Linux's TCP, for both builds of lwIP
// (the weft_lwip addon and the WebAssembly one, WEFT_NETSTACK=addon|wasm): a TUN device in a namespace bridged straight to the stack (netstack-peer.ts), with
// loss, reordering, duplication and delay on both directions. This VM's kernel has no
// sch_netem, so the bridge impairs packets itself with netem's semantics (src/lab/impair.ts).
// Every transfer is checked by SHA-256 on both ends.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/lab/wg-pair.js';
import { execOk, Lab, type Child } from '../../src/lab/netns.js';
import { missingTools, requireOrSkip, rootReason, type SkipContext } from '../../src/lab/require.js';
import { e2eFile } from './helpers.js';
import type { ImpairSpec } from '../../src/lab/impair.js';

e2eFile();

const AGENTS = join(PACKAGE_ROOT, 'dist', 'src', 'lab', 'agents');
const PEER_JS = join(AGENTS, 'netstack-peer.js');
const TOOLS = ['ip', 'tcpdump'];
const LINUX = '10.77.0.1';
const STACK = '10.77.0.2';
const LINUX6 = 'fd77::1';
const STACK6 = 'fd77::2';
const MTU = 1400;
const TUN = 'wus0';

// Linux-side helper: 6001 reads all and records the FIN; 6002 resets at the first data.
const LINUX_SERVER = `
const net = require('net');
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
net.createServer({ allowHalfOpen: true }, (s) => {
  s.on('data', () => {}); s.on('error', (e) => out({ port: 6001, error: e.code }));
  s.on('end', () => { out({ port: 6001, event: 'end' }); s.end('bye\\n'); });
}).listen(6001, '::');
net.createServer((s) => {
  s.once('data', () => s.resetAndDestroy()); s.on('error', () => {});
}).listen(6002, '::', () => out({ event: 'listening' }));
`;

function pre(t: SkipContext): boolean {
  return requireOrSkip(t, [rootReason(), ...missingTools(TOOLS), existsSync(PEER_JS) ? null : `not built (${PEER_JS})`]);
}

for (const kind of ['addon', 'wasm'] as const) {
  describe(`userspace TCP and UDP (lwIP, ${kind}) against Linux through a TUN`, { timeout: 600_000 }, () => {
    let lab: Lab;
    let ns = '';
    let peer: Child;
    let linux: Child;
    let seen = 0;

    before(async () => {
      if (rootReason() !== null || missingTools(TOOLS).length) return;
      lab = new Lab();
      ns = await lab.addNs();
      peer = lab.spawn(ns, [process.execPath, PEER_JS, TUN, STACK, STACK6, String(MTU)], { stdin: true, env: { ...process.env, WEFT_NETSTACK: kind } });
      await peer.waitFor(new RegExp(`"ready","stack":"${kind}"`));
      await execOk(ns, ['ip', 'addr', 'add', `${LINUX}/24`, 'dev', TUN]);
      await execOk(ns, ['ip', 'addr', 'add', `${LINUX6}/64`, 'dev', TUN, 'nodad']);
      linux = lab.spawn(ns, [process.execPath, '-e', LINUX_SERVER]);
      await linux.waitFor(/listening/);
    });

    after(async () => {
      await lab?.destroy();
    });

    /** Impairment of both directions ({} clears), applied in the bridge. */
    async function netem(spec: ImpairSpec): Promise<void> {
      command({ op: 'impair', ...spec });
      await nextEvent((e) => e.event === 'impaired');
    }

    /** Stack events (JSON lines on the peer's stdout) after the ones already consumed. */
    async function nextEvent(match: (e: Record<string, unknown>) => boolean, timeoutMs = 30_000): Promise<Record<string, unknown>> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const lines = peer.stdout.split('\n').filter(Boolean);
        for (let i = seen; i < lines.length; i++) {
          const e = JSON.parse(lines[i]) as Record<string, unknown>;
          if (match(e)) {
            seen = i + 1;
            return e;
          }
        }
        if (Date.now() > deadline) throw new Error(`no matching stack event; stdout:\n${peer.stdout.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }

    function command(c: object): void {
      peer.proc.stdin!.write(JSON.stringify(c) + '\n');
    }

    /** Linux sends `bytes` to the stack's sink; both ends' hashes must agree. */
    async function upload(addr: string, port: number, bytes: number, timeoutS: number): Promise<void> {
      const r = await execOk(ns, [process.execPath, join(AGENTS, 'tcp-source.js'), addr, String(port), String(bytes), `seed-${port}-${bytes}`, String(timeoutS)], { timeoutMs: (timeoutS + 10) * 1000 });
      const sent = JSON.parse(r) as { bytes: number; sha256: string };
      const got = await nextEvent((e) => e.event === 'sink' || e.event === 'error', (timeoutS + 10) * 1000);
      assert.deepEqual({ bytes: got.bytes, sha256: got.sha256 }, { bytes, sha256: sent.sha256 });
    }

    /** The stack sends `bytes` to a Linux sink; both ends' hashes must agree. */
    async function download(addr: string, bytes: number, timeoutS: number): Promise<Record<string, unknown>> {
      const sink = lab.spawn(ns, [process.execPath, join(AGENTS, 'tcp-sink.js'), addr.includes(':') ? '::' : '0.0.0.0', '5001', String(bytes), String(timeoutS)]);
      await sink.waitFor(/listening/);
      command({ op: 'source', addr, port: 5001, bytes, seed: `down-${bytes}` });
      const connected = await nextEvent((e) => e.op === 'source');
      assert.equal(connected.event, 'connected', JSON.stringify(connected));
      await sink.wait((timeoutS + 10) * 1000);
      const got = JSON.parse(sink.stdout.trim().split('\n').pop()!) as { bytes: number; sha256: string };
      const sent = await nextEvent((e) => e.event === 'source' || (e.event === 'error' && e.op === 'source'));
      assert.deepEqual({ bytes: got.bytes, sha256: got.sha256 }, { bytes: sent.bytes, sha256: sent.sha256 });
      return connected.info as Record<string, unknown>;
    }

    test('handshake options: MSS from the MTU, window scaling both ways (IPv4 and IPv6)', async (t) => {
      if (!pre(t)) return;
      await netem({});
      const v4 = await download(LINUX, 100_000, 30);
      assert.equal(v4.mss, MTU - 40);
      assert.ok((v4.sndScale as number) > 0 && (v4.rcvScale as number) > 0, JSON.stringify(v4));
      const v6 = await download(LINUX6, 100_000, 30);
      assert.equal(v6.mss, MTU - 60);
      await upload(STACK6, 9, 1_000_000, 30);
    });

    for (const [label, spec] of [
      ['clean', {}],
      ['5 % loss', { loss: 0.05 }],
      ['reordering', { delayMs: 10, reorder: 0.25 }],
      ['duplication', { duplicate: 0.1 }],
      ['loss, reordering and duplication with delay', { delayMs: 5, reorder: 0.1, loss: 0.02, duplicate: 0.05 }],
    ] as Array<[string, ImpairSpec]>) {
      test(`${label}: 4 MB each way arrives intact`, async (t) => {
        if (!pre(t)) return;
        await netem(spec);
        try {
          await upload(STACK, 9, 4_000_000, 120);
          await download(LINUX, 4_000_000, 120);
        } finally {
          await netem({});
        }
      });
    }

    test('zero window: the stack stops reading, Linux probes, nothing is lost', async (t) => {
      if (!pre(t)) return;
      await netem({});
      // The stack's ACK with window 0 (TCP window field at offset 14 of the header).
      const dump = lab.spawn(ns, ['tcpdump', '-i', TUN, '-nn', '-c', '1', `src host ${STACK} and tcp src port 11 and tcp[14:2] = 0`]);
      await dump.waitFor(/listening on/, 10_000, 'stderr');
      await upload(STACK, 11, 2_000_000, 60);
      const d = await dump.wait(5_000);
      assert.equal(d.timedOut, false, 'no zero-window segment from the stack');
      assert.match(dump.stdout, /win 0/);
    });

    test('FIN and RST from either side', async (t) => {
      if (!pre(t)) return;
      await netem({});
      // Stack FIN -> Linux sees the end, answers and closes; the stack sees the end too.
      command({ op: 'fin', addr: LINUX, port: 6001 });
      await linux.waitFor(/"port":6001,"event":"end"/);
      await nextEvent((e) => e.op === 'fin' && e.event === 'end');
      await nextEvent((e) => e.op === 'fin' && e.event === 'closed');
      // Stack RST -> Linux's read fails with ECONNRESET.
      command({ op: 'rst', addr: LINUX, port: 6001 });
      await linux.waitFor(/"port":6001,"error":"ECONNRESET"/);
      // Linux RST -> the stack's socket fails with ECONNRESET.
      command({ op: 'fin', addr: LINUX, port: 6002 });
      const reset = await nextEvent((e) => e.op === 'fin' && e.event === 'error');
      assert.equal(reset.code, 'ECONNRESET');
      // Closed ports refuse, both ways.
      command({ op: 'fin', addr: LINUX, port: 6003 });
      const refused = await nextEvent((e) => e.op === 'fin' && e.event === 'error');
      assert.equal(refused.code, 'ECONNREFUSED');
      const js = (port: number) =>
        `const s=require('net').connect(${port},'${STACK}',()=>s.write('x'));s.on('data',()=>{});s.on('error',(e)=>{console.log(e.code);process.exit(0)});s.on('end',()=>console.log('end'))`;
      assert.equal((await execOk(ns, [process.execPath, '-e', js(6003)])).trim(), 'ECONNREFUSED');
      // The stack resets at the first data (port 13): Linux sees ECONNRESET.
      assert.equal((await execOk(ns, [process.execPath, '-e', js(13)])).trim(), 'ECONNRESET');
      // Linux FIN -> the stack (echo, port 7) ends too.
      const echo = `const s=require('net').connect(7,'${STACK}',()=>s.end('ping'));let b='';s.on('data',(d)=>b+=d);s.on('end',()=>console.log(b))`;
      assert.equal((await execOk(ns, [process.execPath, '-e', echo])).trim(), 'ping');
    });

    test('keepalive: an idle connection is probed, and a peer gone silent is given up', async (t) => {
      if (!pre(t)) return;
      await netem({});
      // Segments from the stack to Linux's 6001 with no payload and no SYN/FIN: after the
      // handshake's ACK, an idle connection sends only keepalive probes.
      const empty = `src host ${STACK} and tcp dst port 6001 and tcp[13] & 3 = 0 and ip[2:2] - ((ip[0] & 15) << 2) - ((tcp[12] & 240) >> 2) = 0`;
      const dump = lab.spawn(ns, ['tcpdump', '-i', TUN, '-nn', '-c', '3', empty]);
      await dump.waitFor(/listening on/, 10_000, 'stderr');
      command({ op: 'keepalive', addr: LINUX, port: 6001, idleMs: 1000 });
      await nextEvent((e) => e.op === 'keepalive' && e.event === 'connected');
      const d = await dump.wait(10_000);
      assert.equal(d.timedOut, false, `fewer than 2 keepalive probes in 10 s:\n${dump.stdout}`);
      // Linux stops answering: 5 unanswered probes, 1 s apart, and the stack gives up.
      await netem({ loss: 1 });
      try {
        const gone = await nextEvent((e) => e.op === 'keepalive' && e.event === 'error', 20_000);
        assert.equal(gone.code, 'ECONNABORTED');
      } finally {
        await netem({});
      }
    });

    test('UDP: datagrams to the stack are echoed back (IPv4 and IPv6)', async (t) => {
      if (!pre(t)) return;
      await netem({});
      for (const [addr, type] of [[STACK, 'udp4'], [STACK6, 'udp6']]) {
        const js = `const s=require('dgram').createSocket('${type}');s.on('message',(m)=>{console.log(String(m));process.exit(0)});s.send('dgram ${type}',7,'${addr}');setTimeout(()=>process.exit(2),5000)`;
        assert.equal((await execOk(ns, [process.execPath, '-e', js])).trim(), `dgram ${type}`);
      }
    });

    test('100 MB with 1 % loss and 20 ms delay arrives intact', async (t) => {
      if (!pre(t)) return;
      await netem({ delayMs: 10, loss: 0.01 }); // 10 ms each way: 20 ms RTT
      try {
        await upload(STACK, 9, 100_000_000, 400);
      } finally {
        await netem({});
      }
    });
  });
}
