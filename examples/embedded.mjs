// A Node program that is its own Weft node: no root, no TUN device. It serves HTTP on
// the mesh and, with PEER_URL set, fetches a page from a peer.
//
//   WEFT_SERVER=https://weft.example.com WEFT_AUTH_KEY=... node examples/embedded.mjs
import http from 'node:http';
import { Weft } from '@weft-vpn/weft';

const weft = await Weft.join({
  server: process.env.WEFT_SERVER,
  authKey: process.env.WEFT_AUTH_KEY,
  stateDir: process.env.WEFT_STATE_DIR ?? './weft-state',
  hostname: process.env.WEFT_HOSTNAME ?? 'embedded',
  insecureHttp: process.env.WEFT_INSECURE_HTTP === '1', // labs only: a plain-http coordinator
});

// Any http.Server serves mesh connections: hand it the sockets weft.listen() accepts.
const app = http.createServer((req, res) => res.end(`hello from ${weft.self.name}\n`));
weft.listen(8080, (socket) => app.emit('connection', socket));
console.log(`serving http://${weft.self.ipv4}:8080/ as ${weft.self.name}`);

if (process.env.PEER_URL) {
  const res = await weft.fetch(process.env.PEER_URL);
  console.log(`fetched ${res.status}: ${(await res.text()).trim()}`);
}

const stop = () => weft.close().then(() => process.exit(0));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
