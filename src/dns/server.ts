import dgram from 'node:dgram';
import net from 'node:net';
import type { Transport } from './upstream.js';

// DNS over UDP and TCP on one address:port (the agent binds its MagicDNS address, e.g.
// 100.100.100.100:53). TCP frames are RFC 1035 §4.2.2 length-prefixed and a connection
// may carry several queries. stop() closes both sockets and every TCP connection, so no
// handle outlives the server.

export interface DnsHandler {
  resolve(query: Uint8Array, transport: Transport): Promise<Uint8Array | null>;
}

export interface DnsServerOptions {
  host: string;
  /** 0 picks a free port (UDP's; TCP then takes the same number). */
  port: number;
  tcp?: boolean;
  /** Idle TCP connections are closed after this long (default 10 s, RFC 7766 suggests seconds). */
  tcpIdleMs?: number;
  maxTcpConnections?: number;
}

export class DnsServer {
  private udp: dgram.Socket | null = null;
  private tcp: net.Server | null = null;
  private readonly conns = new Set<net.Socket>();
  private boundPort = 0;

  constructor(
    private readonly handler: DnsHandler,
    private readonly opts: DnsServerOptions,
  ) {}

  get address(): { host: string; port: number } {
    return { host: this.opts.host, port: this.boundPort };
  }

  async start(): Promise<{ host: string; port: number }> {
    const udp = dgram.createSocket(net.isIPv6(this.opts.host) ? 'udp6' : 'udp4');
    this.udp = udp;
    udp.on('message', (msg, rinfo) => {
      void this.handler.resolve(msg, 'udp').then((resp) => {
        if (resp && this.udp === udp) udp.send(resp, rinfo.port, rinfo.address, () => {});
      }, () => {});
    });
    udp.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.opts.port, this.opts.host, () => {
        udp.off('error', reject);
        resolve();
      });
    }).catch(async (err) => {
      await this.stop();
      throw err;
    });
    this.boundPort = udp.address().port;
    if (this.opts.tcp !== false) {
      const server = net.createServer((sock) => this.serveTcp(sock));
      server.maxConnections = this.opts.maxTcpConnections ?? 64;
      this.tcp = server;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.boundPort, this.opts.host, () => {
          server.off('error', reject);
          resolve();
        });
      }).catch(async (err) => {
        await this.stop();
        throw err;
      });
    }
    return this.address;
  }

  async stop(): Promise<void> {
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = null;
    this.tcp = null;
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    await Promise.all([
      udp && new Promise<void>((resolve) => { try { udp.close(() => resolve()); } catch { resolve(); } }),
      tcp && new Promise<void>((resolve) => tcp.close(() => resolve())),
    ]);
  }

  private serveTcp(sock: net.Socket): void {
    this.conns.add(sock);
    sock.setTimeout(this.opts.tcpIdleMs ?? 10_000, () => sock.destroy());
    sock.on('close', () => this.conns.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf: Buffer = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      // Frames are at most 2 + 65535 bytes, so the buffer stays bounded.
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const query = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        void this.handler.resolve(query, 'tcp').then((resp) => {
          if (!resp) {
            sock.destroy();
            return;
          }
          if (sock.destroyed) return;
          const hdr = Buffer.alloc(2);
          hdr.writeUInt16BE(resp.length);
          sock.write(Buffer.concat([hdr, resp]));
        }, () => sock.destroy());
      }
    });
  }
}
