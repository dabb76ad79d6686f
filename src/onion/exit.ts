import { lookup } from 'node:dns/promises';
import { isIP, connect as tcpConnect, type Socket } from 'node:net';
import { silentLogger, type Logger } from '../log.js';
import { parsePrefix, type Prefix } from '../net/prefix.js';
import { OnionError } from './errors.js';
import { decodeTarget, EndReason, RelayCommand, type RelayMessage } from './relay-msg.js';
import { streamChunkAt, type ExitRole, type HopCircuit, type OnionRelay } from './relay.js';
import { CircuitStream } from './stream.js';

// The exit role: the last hop opens TCP connections for BEGIN messages, but only to
// destinations its policy serves. The policy is checked here, at the exit, on the
// address actually connected to (after the exit's own DNS lookup), so a client cannot
// name a host that resolves into a blocked range.

export interface OnionExitPolicy {
  /** Destination prefixes served (e.g. ["0.0.0.0/0"]); empty serves nothing. */
  allow: string[];
  /** Destination prefixes never served, checked first (e.g. the mesh range, RFC 1918). */
  block: string[];
  /** TCP ports or ranges "a-b" served; empty = all. */
  ports: string[];
}

export class ExitPolicyMatcher {
  private readonly allow: Prefix[];
  private readonly block: Prefix[];
  private readonly ports: [number, number][];

  constructor(p: OnionExitPolicy) {
    this.allow = p.allow.map(parsePrefix);
    this.block = p.block.map(parsePrefix);
    this.ports = p.ports.map((r) => {
      const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(r);
      const lo = m ? Number(m[1]) : NaN;
      const hi = m?.[2] ? Number(m[2]) : lo;
      if (!(lo >= 1 && hi <= 65535 && lo <= hi)) throw new OnionError('ERR_ONION_EXIT_POLICY', `invalid port range ${JSON.stringify(r)}`);
      return [lo, hi];
    });
  }

  allows(ip: string, port: number): boolean {
    if (isIP(ip) === 0) return false;
    const a = parsePrefix(ip);
    if (this.block.some((p) => contains(p, a))) return false;
    if (!this.allow.some((p) => contains(p, a))) return false;
    return this.ports.length === 0 || this.ports.some(([lo, hi]) => port >= lo && port <= hi);
  }
}

function contains(p: Prefix, a: Prefix): boolean {
  if (p.family !== a.family) return false;
  let bits = p.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a.bytes[i] & mask) !== p.bytes[i]) return false;
  }
  return true;
}

export interface ExitOptions {
  policy: OnionExitPolicy;
  logger?: Logger;
  /** Streams one circuit may hold open at once. */
  maxStreamsPerCircuit?: number;
  /** Stream connect timeout. */
  connectTimeoutMs?: number;
}

export interface ExitCounters {
  opened: number;
  refusedPolicy: number;
  connectFailed: number;
}

/** Attach with `relay.exit = new OnionExit(relay, opts)`. */
export class OnionExit implements ExitRole {
  readonly counters: ExitCounters = { opened: 0, refusedPolicy: 0, connectFailed: 0 };
  private readonly matcher: ExitPolicyMatcher;
  private readonly streams = new Map<HopCircuit, Map<number, { stream: CircuitStream; socket: Socket | null }>>();
  private readonly log: Logger;
  private readonly maxStreams: number;

  constructor(
    private readonly relay: OnionRelay,
    private readonly opts: ExitOptions,
  ) {
    this.matcher = new ExitPolicyMatcher(opts.policy);
    this.log = opts.logger ?? silentLogger;
    this.maxStreams = opts.maxStreamsPerCircuit ?? 64;
  }

  handle(c: HopCircuit, msg: RelayMessage): void {
    const table = this.streams.get(c);
    const entry = table?.get(msg.streamId);
    if (msg.command === RelayCommand.Begin) {
      if (entry || msg.streamId === 0) return this.relay.kill(c, 'BEGIN on a stream in use');
      return void this.begin(c, msg);
    }
    entry?.stream.deliver(msg); // DATA/END/SENDME for a stream we closed are dropped
  }

  circuitClosed(c: HopCircuit): void {
    const table = this.streams.get(c);
    this.streams.delete(c);
    for (const { stream, socket } of table?.values() ?? []) {
      stream.abort(new OnionError('ERR_ONION_DESTROYED', 'circuit destroyed'));
      socket?.destroy();
    }
  }

  private async begin(c: HopCircuit, msg: RelayMessage): Promise<void> {
    const id = msg.streamId;
    const end = (reason: EndReason): void => void this.relay.sendBack(c, RelayCommand.End, id, Uint8Array.of(reason));
    let table = this.streams.get(c);
    if (!table) this.streams.set(c, (table = new Map()));
    if (table.size >= this.maxStreams) return end(EndReason.TooManyStreams);
    const target = decodeTarget(msg.data);
    if (!target) return end(EndReason.Protocol);
    const stream = new CircuitStream(id, streamChunkAt(c.depth), (cmd, data) => this.relay.sendBack(c, cmd, id, data));
    const entry = { stream, socket: null as Socket | null };
    table.set(id, entry);
    stream.on('error', () => {});
    stream.on('close', () => {
      if (this.streams.get(c)?.get(id) === entry) this.streams.get(c)?.delete(id);
      entry.socket?.destroy();
    });
    let ip = target.host;
    if (isIP(ip) === 0) {
      try {
        ip = (await lookup(target.host)).address;
      } catch {
        ip = '';
      }
    }
    if (stream.destroyed) return;
    if (!ip || !this.matcher.allows(ip, target.port)) {
      this.counters.refusedPolicy++;
      this.log.debug({ circId: c.prev.circId }, 'onion exit: destination refused by policy');
      table.delete(id);
      stream.abort(new OnionError('ERR_ONION_EXIT_POLICY', 'refused'));
      return end(ip ? EndReason.ExitPolicy : EndReason.ConnectFailed);
    }
    const socket = tcpConnect({ host: ip, port: target.port });
    entry.socket = socket;
    socket.setTimeout(this.opts.connectTimeoutMs ?? 10_000, () => socket.destroy(new Error('connect timeout')));
    let connected = false;
    socket.once('connect', () => {
      connected = true;
      socket.setTimeout(0);
      this.counters.opened++;
      this.relay.sendBack(c, RelayCommand.Connected, id);
      socket.pipe(stream);
      stream.pipe(socket);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (connected) return void stream.destroy(new Error('destination reset'));
      this.counters.connectFailed++;
      this.log.debug({ circId: c.prev.circId, err: err.code ?? err.message }, 'onion exit: connect failed');
      table.delete(id);
      stream.abort(new OnionError('ERR_ONION_STREAM', 'connect failed'));
      end(EndReason.ConnectFailed);
    });
  }
}
