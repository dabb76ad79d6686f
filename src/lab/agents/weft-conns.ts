// Usage (any user): node --expose-gc weft-conns.js SERVER_URL AUTH_KEY STATE_DIR PEER PORT COUNT
// Joins the mesh with the embedding API, opens COUNT TCP connections to PEER:PORT over
// the userspace stack and prints {"count","rssPerConn","heapPerConn"} (bytes) from the
// process's memory before and after, each measured after a full GC; with the wasm stack
// also "wasmPerConn", the bytes lwIP allocates per connection (pcbs, buffers) in its
// linear memory, which RSS does not show well (V8 frees compiled code meanwhile).
import { WasmLwip } from '../../netstack/lwip-wasm.js';
import { Weft } from '../../netstack/weft.js';

const [server, authKey, stateDir, peer, portS, countS] = process.argv.slice(2);
const count = Math.min(5000, Number(countS));
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const weft = await Weft.join({ server, authKey, stateDir, hostname: 'conns', insecureHttp: true });
const measure = (): NodeJS.MemoryUsage => {
  gc();
  return process.memoryUsage();
};
// One connection first: the stack's and HTTP machinery's one-time costs are not per connection.
const first = await weft.dial(peer, Number(portS));
const lwip = weft.agent.netstack?.lwip;
const wasmBytes = (): number => (lwip instanceof WasmLwip ? lwip.heapBytes() : 0);
const before = measure();
const wasmBefore = wasmBytes();
const socks = [first];
for (let i = 1; i < count; i++) socks.push(await weft.dial(peer, Number(portS)));
const after = measure();
const n = count - 1;
const wasmPerConn = lwip instanceof WasmLwip ? (wasmBytes() - wasmBefore) / n : undefined;
process.stdout.write(JSON.stringify({ count, rssPerConn: (after.rss - before.rss) / n, heapPerConn: (after.heapUsed - before.heapUsed) / n, externalPerConn: (after.external - before.external) / n, wasmPerConn }) + '\n');
for (const s of socks) s.destroy();
await weft.close();
process.exit(0);
