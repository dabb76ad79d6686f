import dgram from 'node:dgram';
import net from 'node:net';
import ipaddr from 'ipaddr.js';
import { DnsError } from './errors.js';

// Sending one query to one upstream resolver and waiting for its answer, over UDP or
// TCP (RFC 1035 §4.2.2 two-byte length prefix). One socket per query keeps replies from
// different clients apart without rewriting query IDs, and is closed on every path.

export interface Upstream {
  host: string;
  port: number;
}

export type Transport = 'udp' | 'tcp';

/** Sends `query` to `server`; resolves with the raw response. Injected in tests. */
export type UpstreamExchange = (server: Upstream, query: Uint8Array, transport: Transport, timeoutMs: number) => Promise<Uint8Array>;

/** `1.2.3.4`, `1.2.3.4:5353`, `fd00::1`, `[fd00::1]:5353`. */
export function parseUpstream(s: string): Upstream {
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  let host = s;
  let port = 53;
  if (bracket) {
    host = bracket[1];
    if (bracket[2]) port = Number(bracket[2]);
  } else if (/^[\d.]+:\d+$/.test(s)) {
    [host] = s.split(':');
    port = Number(s.split(':')[1]);
  }
  if (!ipaddr.isValid(host) || !(port > 0 && port < 65536)) throw new DnsError('ERR_DNS_BAD_SERVER', `bad DNS server ${JSON.stringify(s)}`);
  return { host, port };
}

const timeout = (server: Upstream): DnsError => new DnsError('ERR_DNS_UPSTREAM_TIMEOUT', `no answer from ${server.host}:${server.port}`);

function udpExchange(server: Upstream, query: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(net.isIPv6(server.host) ? 'udp6' : 'udp4');
    const done = (err: Error | null, msg?: Uint8Array): void => {
      clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else resolve(msg!);
    };
    const timer = setTimeout(() => done(timeout(server)), timeoutMs);
    sock.on('error', (err) => done(err));
    const from = ipaddr.process(server.host).toString();
    sock.on('message', (msg, rinfo) => {
      // Only the server we asked (address and port), with our query's ID, may answer (anti-spoofing).
      if (rinfo.port !== server.port || ipaddr.process(rinfo.address).toString() !== from || msg.length < 2 || msg[0] !== query[0] || msg[1] !== query[1]) return;
      done(null, msg);
    });
    sock.send(query, server.port, server.host, (err) => err && done(err));
  });
}

function tcpExchange(server: Upstream, query: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: server.host, port: server.port });
    let buf: Buffer = Buffer.alloc(0);
    const done = (err: Error | null, msg?: Uint8Array): void => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(msg!);
    };
    const timer = setTimeout(() => done(timeout(server)), timeoutMs);
    sock.on('error', (err) => done(err));
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(query.length);
      sock.write(Buffer.concat([len, query]));
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(null, buf.subarray(2, 2 + buf.readUInt16BE(0)));
    });
    sock.on('end', () => done(new DnsError('ERR_DNS_UPSTREAM_BAD_RESPONSE', `${server.host}:${server.port} closed the connection`)));
  });
}

export const networkExchange: UpstreamExchange = (server, query, transport, timeoutMs) =>
  transport === 'tcp' ? tcpExchange(server, query, timeoutMs) : udpExchange(server, query, timeoutMs);
