import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { PacketBatch } from '../../src/io/batch.js';
import { DgramBind } from '../../src/io/bind-dgram.js';
import { LinuxBind } from '../../src/io/bind-linux.js';
import { ENDPOINT_BYTES, Endpoint } from '../../src/io/endpoint.js';
import { nativeAvailable } from '../../src/io/native.js';

const skip = process.platform !== 'linux' ? 'Linux only' : !nativeAvailable() ? 'native addon not built (npm run build:native)' : false;

/** The behaviour every Bind shares, run on the native bind and on the dgram fallback (WEFT_NATIVE=0). */
const IMPLS = [
  { name: 'LinuxBind', skip, make: (slotSize?: number) => new LinuxBind({ slotSize, batchSize: 64 }) },
  { name: 'DgramBind', skip: false, make: (slotSize?: number) => new DgramBind({ slotSize }) },
];

interface Rx {
  data: Buffer;
  from: Endpoint;
}

function collector() {
  const got: Rx[] = [];
  let waiter: { n: number; resolve: () => void } | undefined;
  return {
    got,
    events: {
      onReceive(batch: PacketBatch, sources: Uint8Array) {
        for (let i = 0; i < batch.count; i++) {
          got.push({ data: Buffer.from(batch.packet(i)), from: Endpoint.fromBytes(sources, i * ENDPOINT_BYTES) });
        }
        if (waiter && got.length >= waiter.n) waiter.resolve();
      },
    },
    wait(n: number, ms = 5000): Promise<void> {
      if (got.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timeout: got ${got.length}/${n} datagrams`)), ms);
        waiter = { n, resolve: () => (clearTimeout(t), resolve()) };
      });
    },
  };
}

function makeBatch(tag: string, n: number): PacketBatch {
  const b = new PacketBatch(128, 2048);
  for (let i = 0; i < n; i++) {
    // varying sizes and a non-zero offset inside the slot
    const body = Buffer.alloc(20 + ((i * 37) % 1400), i & 0xff);
    body.write(`${tag}:${i}:`, 0);
    assert.ok(b.push(body, 16));
  }
  return b;
}

function check(rx: Rx[], tag: string, n: number, fromIp: string, fromPort: number): void {
  assert.equal(rx.length, n);
  const seen = new Set<number>();
  for (const { data, from } of rx) {
    assert.equal(from.ip, fromIp);
    assert.equal(from.port, fromPort);
    const m = /^([a-z]+):(\d+):/.exec(data.toString('latin1', 0, 16));
    assert.ok(m && m[1] === tag, 'payload tag');
    const i = Number(m[2]);
    assert.equal(data.length, 20 + ((i * 37) % 1400));
    assert.equal(data[data.length - 1], i & 0xff);
    seen.add(i);
  }
  assert.equal(seen.size, n);
}

const fdCount = () => readdirSync('/proc/self/fd').length;

for (const impl of IMPLS) {
test(`${impl.name}: batches both ways over 127.0.0.1 and ::1`, { skip: impl.skip }, async () => {
  const fdsBefore = fdCount();
  const resBefore = process.getActiveResourcesInfo().length;
  const a = impl.make();
  const b = impl.make(2048);
  const ca = collector();
  const cb = collector();
  const pa = await a.open(0, ca.events);
  const pb = await b.open(0, cb.events);
  assert.equal(a.port, pa);
  assert.ok(pa > 0 && pb > 0 && pa !== pb);

  // a -> b over IPv4 loopback (dual-stack socket reports ::ffff:127.0.0.1 as 127.0.0.1)
  const sent1 = a.send(makeBatch('ab', 100), Endpoint.of('127.0.0.1', pb));
  assert.equal(sent1, 100);
  await cb.wait(100);
  check(cb.got, 'ab', 100, '127.0.0.1', pa);

  // b -> a over IPv6 loopback when the socket is dual-stack
  if (b.v6) {
    assert.equal(b.send(makeBatch('ba', 100), Endpoint.of('::1', pa)), 100);
    await ca.wait(100);
    check(ca.got, 'ba', 100, '::1', pb);
  } else {
    assert.equal(b.send(makeBatch('ba', 100), Endpoint.of('127.0.0.1', pa)), 100);
    await ca.wait(100);
    check(ca.got, 'ba', 100, '127.0.0.1', pb);
  }

  await a.close();
  await b.close();
  await a.close(); // idempotent
  await new Promise((r) => setTimeout(r, 10)); // libuv frees closed dgram handles in the loop's close phase
  assert.equal(fdCount(), fdsBefore, 'sockets closed');
  assert.ok(process.getActiveResourcesInfo().length <= resBefore, 'no active resources left');
  assert.equal(a.send(makeBatch('x', 1), Endpoint.of('127.0.0.1', pb)), 0, 'send after close');
});

test(`${impl.name}: oversized datagrams are dropped, others kept`, { skip: impl.skip }, async () => {
  const a = impl.make();
  const b = impl.make(512);
  const cb = collector();
  await a.open(0, { onReceive() {} });
  const pb = await b.open(0, cb.events);
  const batch = new PacketBatch(4, 2048);
  batch.push(Buffer.alloc(100, 1));
  batch.push(Buffer.alloc(1000, 2));
  batch.push(Buffer.alloc(512, 3));
  assert.equal(a.send(batch, Endpoint.of('127.0.0.1', pb)), 3);
  await cb.wait(2);
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(cb.got.map((r) => [r.data.length, r.data[0]]), [[100, 1], [512, 3]]);
  await a.close();
  await b.close();
});

test(`${impl.name}: opening a port in use fails with EADDRINUSE`, { skip: impl.skip }, async () => {
  const a = impl.make();
  const port = await a.open(0, { onReceive() {} });
  const b = impl.make();
  await assert.rejects(b.open(port, { onReceive() {} }), (err: unknown) => (err as { code?: string }).code === 'EADDRINUSE');
  await a.close();
  assert.equal(b.isOpen, false);
});
}

test('LinuxBind: IPv4-only socket (the no-IPv6 fallback path) talks to a dual-stack one', { skip }, async () => {
  const a = new LinuxBind({ family: 4 });
  const b = new LinuxBind();
  const ca = collector();
  const cb = collector();
  const pa = await a.open(0, ca.events);
  const pb = await b.open(0, cb.events);
  assert.equal(a.v6, false);
  assert.equal(a.send(makeBatch('ab', 50), Endpoint.of('127.0.0.1', pb)), 50);
  await cb.wait(50);
  check(cb.got, 'ab', 50, '127.0.0.1', pa);
  assert.equal(b.send(makeBatch('ba', 50), Endpoint.of('127.0.0.1', pa)), 50);
  await ca.wait(50);
  check(ca.got, 'ba', 50, '127.0.0.1', pb);
  // an IPv6 destination cannot be reached from an AF_INET socket: counted as not sent
  assert.equal(a.send(makeBatch('x', 1), Endpoint.of('::1', pb)), 0);
  assert.equal((a.lastSendError as { code?: string } | undefined)?.code, 'EAFNOSUPPORT');
  await a.close();
  await b.close();
});

test('LinuxBind: an open-then-closed bind does not keep the process alive', { skip }, () => {
  const url = new URL('../../src/io/bind-linux.js', import.meta.url).href;
  const script = `
    import { LinuxBind } from ${JSON.stringify(url)};
    const b = new LinuxBind();
    await b.open(0, { onReceive() {} });
    await b.close();
    console.log('closed');
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000, encoding: 'utf8' });
  assert.equal(r.error, undefined, 'child exited on its own');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /closed/);
});

test('Poller: a worker terminated with an active poller exits cleanly; unref() lets the process exit', { skip }, () => {
  const url = new URL('../../src/io/native.js', import.meta.url).href;
  const script = `
    import { Worker } from 'node:worker_threads';
    import { loadNative } from ${JSON.stringify(url)};
    const code = \`
      import { loadNative } from ${JSON.stringify(url)};
      import { parentPort } from 'node:worker_threads';
      const n = loadNative();
      const u = n.udpOpen(0);
      new n.Poller(u.fd, () => {});
      parentPort.postMessage('ready');
    \`;
    for (let i = 0; i < 3; i++) {
      const w = new Worker(new URL('data:text/javascript,' + encodeURIComponent(code)));
      await new Promise((r, j) => { w.once('message', r); w.once('error', j); });
      await w.terminate();
    }
    const n = loadNative();
    const u = n.udpOpen(0);
    new n.Poller(u.fd, () => {}).unref();
    console.log('done');
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000, encoding: 'utf8' });
  assert.equal(r.error, undefined, 'child exited on its own');
  assert.equal(r.signal, null, `child crashed: ${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /done/);
});

test('DgramBind: SO_MARK 0 is accepted, any other mark is a typed error (it needs the addon)', async () => {
  const a = new DgramBind();
  assert.throws(() => a.setMark(0), { code: 'ERR_BIND_CLOSED' });
  await a.open(0, { onReceive() {} });
  a.setMark(0);
  assert.throws(() => a.setMark(0xca6c), { code: 'ERR_BIND_MARK_UNSUPPORTED' });
  await a.close();
});

test('WEFT_NATIVE=0: the addon reports unavailable and the agent falls back to the dgram bind', () => {
  const src = (m: string) => JSON.stringify(new URL(`../../src/${m}`, import.meta.url).href);
  const script = `
    import { nativeAvailable, loadNative } from ${src('io/native.js')};
    import { defaultBind } from ${src('agent/agent-options.js')};
    let code = '';
    try { loadNative(); } catch (err) { code = err.code; }
    const bind = await defaultBind();
    console.log(JSON.stringify({ available: nativeAvailable(), code, bind: bind.constructor.name }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, WEFT_NATIVE: '0' }, encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { available: false, code: 'ERR_NATIVE_UNAVAILABLE', bind: 'DgramBind' });
});
