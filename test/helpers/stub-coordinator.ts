// A scripted stand-in for the coordinator, for the tests that need the server to
// misbehave (malformed stream messages, forged frames), which the real one never does.
// It speaks src/wire/control.ts (v7: sealed frames, response MACs) and checks node auth
// like the real one.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { nodeAuthKey, openFrame, parseNodeAuth, RESPONSE_MAC_HEADER, responseMac, sealFrame, sessionKeys, verifyNodeRequest, type SessionKeys } from '../../src/wire/node-auth.js';
import { SEALED_VERSION } from '../../src/wire/version.js';
import type { NetMap, NodeView, RegisterRequest, RegisterResponse } from '../../src/wire/control.js';

export class StubCoordinator {
  private readonly key = generatePrivateKey();
  private readonly http: Server;
  private readonly wss = new WebSocketServer({ noServer: true });
  readonly nodes = new Map<string, NodeView>();
  readonly sockets = new Set<WebSocket>();
  private readonly sealing = new Map<WebSocket, { keys: SessionKeys; sent: number; received: number }>();
  readonly received: unknown[] = [];
  seq = 1;
  registrations = 0;
  url = '';

  constructor() {
    this.http = createServer((req, res) =>
      void this.handle(req, (status, b, keys) => {
        const text = JSON.stringify(b);
        res.writeHead(status, { 'content-type': 'application/json', ...(keys ? { [RESPONSE_MAC_HEADER]: responseMac(keys, status, text) } : {}) }).end(text);
      }),
    );
    this.http.on('upgrade', (req, socket, head) => {
      const v = this.verify(req, Buffer.alloc(0));
      if (!v || !this.nodes.has(v.pub) || !v.keys) {
        socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
        return;
      }
      const keys = v.keys;
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        this.sockets.add(ws);
        const sealing = { keys, sent: 0, received: 0 };
        this.sealing.set(ws, sealing);
        ws.on('close', () => {
          this.sockets.delete(ws);
          this.sealing.delete(ws);
        });
        ws.on('message', (d) => this.received.push(JSON.parse(openFrame(keys.up, sealing.received++, d as Buffer) ?? 'null')));
        this.sendTo(ws, JSON.stringify({ type: 'full', netmap: this.netmapFor(v.pub) }));
      });
    });
  }

  async start(host = '127.0.0.1', port = 0): Promise<void> {
    await new Promise<void>((r) => this.http.listen(port, host, r));
    this.url = `http://${host}:${(this.http.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
    this.http.closeAllConnections();
    await new Promise<void>((r) => this.http.close(() => r()));
  }

  /** Sends raw text, sealed as the real coordinator would, to every connected node. */
  broadcastRaw(text: string): void {
    for (const ws of this.sockets) this.sendTo(ws, text);
  }

  /** Sends frames that are not sealed under the node's keys (an on-path forger's). */
  broadcastForged(frame: string | Buffer): void {
    for (const ws of this.sockets) ws.send(frame);
  }

  private sendTo(ws: WebSocket, text: string): void {
    const s = this.sealing.get(ws)!;
    ws.send(sealFrame(s.keys.down, s.sent++, text));
  }

  netmapFor(pub: string): NetMap {
    return {
      version: 1,
      seq: this.seq,
      domain: 'mesh.test',
      ipv4Range: '100.64.0.0/10',
      ipv6Range: 'fd7a:115c:a1e0::/48',
      self: this.nodes.get(pub)!,
      peers: [...this.nodes.values()].filter((n) => n.publicKey !== pub),
    };
  }

  private verify(req: IncomingMessage, body: Buffer): { pub: string; keys: SessionKeys | null } | null {
    const auth = parseNodeAuth(req.headers.authorization);
    if (!auth) return null;
    const k = nodeAuthKey(this.key, auth.publicKey);
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (!k || !verifyNodeRequest(k, auth, req.method ?? 'GET', path, body)) return null;
    return { pub: keyToBase64(auth.publicKey), keys: (auth.version ?? 0) >= SEALED_VERSION ? sessionKeys(k, auth.nonce) : null };
  }

  private async handle(req: IncomingMessage, reply: (status: number, b: unknown, keys?: SessionKeys | null) => void): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    if (req.url === '/api/v1/key') return reply(200, { version: 1, publicKey: keyToBase64(publicKeyFromPrivate(this.key)) });
    const v = this.verify(req, body);
    if (!v) return reply(401, { error: { code: 'unauthorized', message: 'bad node auth' } });
    const pub = v.pub;
    if (req.url === '/api/v1/register') {
      this.registrations++;
      const r = JSON.parse(body.toString()) as RegisterRequest;
      const n = this.nodes.size + 1;
      const node: NodeView = this.nodes.get(pub) ?? {
        id: n, name: r.hostname ?? `node${n}`, fqdn: `${r.hostname ?? `node${n}`}.mesh.test`, ipv4: `100.64.0.${n}`, ipv6: `fd7a:115c:a1e0::${n}`,
        publicKey: pub, endpoints: r.endpoints ?? [], online: true, lastSeen: null, createdAt: new Date().toISOString(), expiresAt: null, ephemeral: false, tags: [], user: null,
      };
      if (!this.nodes.has(pub)) {
        this.nodes.set(pub, node);
        this.seq++;
        this.broadcastRaw(JSON.stringify({ type: 'delta', seq: this.seq, upserts: [node], removals: [] }));
      }
      const res: RegisterResponse = { node, domain: 'mesh.test', ipv4Range: '100.64.0.0/10', ipv6Range: 'fd7a:115c:a1e0::/48' };
      return reply(200, res, v.keys);
    }
    return reply(404, { error: { code: 'not_found', message: req.url ?? '' } });
  }
}
