import type { ServerResponse } from 'node:http';

// What a browser (or a firewall's active probe) gets from a relay's URL without a
// WebSocket upgrade: an ordinary small HTML page, so a relay on TCP 443 answers like any
// HTTPS site. It says what it is — hiding that is not the goal (docs/NAT.md); looking
// like web traffic to networks that pass only web traffic is.
export const RELAY_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Weft relay</title></head>
<body><h1>Weft relay</h1>
<p>This server relays encrypted WireGuard packets between Weft devices that cannot reach each other directly. There is nothing to see here.</p>
</body></html>
`;

/** GET and HEAD get the page (200, text/html); other methods 405. */
export function serveRelayPage(method: string | undefined, res: ServerResponse): void {
  if (method !== 'GET' && method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(method === 'GET' ? RELAY_PAGE : undefined);
}
