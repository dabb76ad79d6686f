import type { PublicKey } from '../crypto/keys.js';
import { allocCell, cellBody, CellCommand, encodeCell, type Cell } from './cells.js';
import { OnionError } from './errors.js';
import { HANDSHAKE2_LEN, HandshakeInitiator, HopCipher } from './hop-crypto.js';
import { unwrapBackward, wrapForward } from './layers.js';
import type { CellLink } from './link.js';
import { decodeRelay, encodeExtend, encodeRelay, encodeTarget, EndReason, isExtended, RelayCommand, type RelayMessage } from './relay-msg.js';
import { streamChunkAt } from './relay.js';
import { CircuitStream } from './stream.js';

// The client side of a circuit, built telescopically: CREATE to hop 1 over a direct
// link, then for each further hop an EXTEND relayed to the current last hop, which sends
// CREATE onward and returns the new hop's reply as EXTENDED. Each handshake runs end to
// end between this client and that hop (hop-crypto.ts); earlier hops only carry it.
// The client alone holds every hop's keys and wraps each RELAY cell once per hop.

export interface PathHop {
  /** For logs and the CLI only; never sent. */
  name: string;
  /** "host:port" of the hop's circuit listener (its mesh address in the agent). */
  address: string;
  /** The hop's static X25519 key (its WireGuard public key). */
  publicKey: PublicKey;
}

/** What a circuit needs from the node that owns its links. */
export interface CircuitHost {
  connect(address: string): CellLink | null;
  allocCircId(link: CellLink): number;
  register(link: CellLink, circId: number, c: Circuit): void;
  unregister(link: CellLink, circId: number): void;
}

export interface BuildOptions {
  /** Per handshake step. */
  timeoutMs?: number;
}

type Waiter = { expect: 'created' | 'extended' | 'stream'; streamId?: number; resolve: (m: Uint8Array) => void; reject: (e: Error) => void };

export class Circuit {
  readonly hops: HopCipher[] = [];
  private readonly streams = new Map<number, CircuitStream>();
  private readonly waiters = new Set<Waiter>();
  private nextStreamId = 1;
  private closed = false;
  private closeReason = '';
  onClose: (reason: string) => void = () => {};

  private constructor(
    private readonly host: CircuitHost,
    private readonly link: CellLink,
    private readonly circId: number,
    readonly path: readonly PathHop[],
  ) {}

  /** Builds a circuit through `path` (last hop = exit). Rejects with ERR_ONION_HANDSHAKE. */
  static async build(host: CircuitHost, path: readonly PathHop[], opts: BuildOptions = {}): Promise<Circuit> {
    if (path.length === 0) throw new OnionError('ERR_ONION_PATH', 'empty path');
    const link = host.connect(path[0].address);
    const circId = link ? host.allocCircId(link) : 0;
    if (!link || circId === 0) throw new OnionError('ERR_ONION_HANDSHAKE', `cannot reach ${path[0].name}`);
    const c = new Circuit(host, link, circId, path);
    host.register(link, circId, c);
    const timeoutMs = opts.timeoutMs ?? 5000;
    try {
      for (let i = 0; i < path.length; i++) {
        const hs = new HandshakeInitiator(path[i].publicKey, i + 1);
        const reply =
          i === 0
            ? c.await('created', timeoutMs, () => link.send(encodeCell(circId, CellCommand.Create, hs.message1)))
            : c.await('extended', timeoutMs, () => c.sendRelay(i - 1, RelayCommand.Extend, 0, encodeExtend(path[i].address, hs.message1)));
        const keys = hs.finish(await reply);
        if (!keys) throw new OnionError('ERR_ONION_HANDSHAKE', `hop ${path[i].name} failed authentication`);
        c.hops.push(HopCipher.forClient(keys));
      }
    } catch (err) {
      c.destroy(`build failed: ${(err as Error).message}`);
      throw err instanceof OnionError ? err : new OnionError('ERR_ONION_HANDSHAKE', (err as Error).message);
    }
    return c;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** A TCP stream to host:port opened by the exit (the last hop). */
  async openStream(host: string, port: number, timeoutMs = 10_000): Promise<CircuitStream> {
    if (this.closed) throw new OnionError('ERR_ONION_DESTROYED', this.closeReason);
    if (this.streams.size >= 0xfffe) throw new OnionError('ERR_ONION_STREAM', 'too many streams');
    while (this.nextStreamId === 0 || this.streams.has(this.nextStreamId)) this.nextStreamId = (this.nextStreamId + 1) & 0xffff;
    const id = this.nextStreamId++;
    const exit = this.hops.length - 1;
    const stream = new CircuitStream(id, streamChunkAt(this.hops.length), (cmd, data) => this.sendRelay(exit, cmd, id, data));
    this.streams.set(id, stream);
    stream.on('close', () => this.streams.delete(id));
    try {
      await this.await('stream', timeoutMs, () => this.sendRelay(exit, RelayCommand.Begin, id, encodeTarget(host, port)), id);
    } catch (err) {
      this.streams.delete(id);
      stream.abort(err as Error);
      throw err;
    }
    return stream;
  }

  /** Tears the circuit down (DESTROY to hop 1, which passes it on). */
  destroy(reason = 'closed by client'): void {
    if (this.closed) return;
    this.link.send(encodeCell(this.circId, CellCommand.Destroy));
    this.teardown(reason);
  }

  /** A cell on this circuit's (link, circId). Never throws. */
  handleCell(cell: Cell): void {
    if (this.closed) return;
    if (cell.command === CellCommand.Destroy) return this.teardown('destroyed by the network');
    if (cell.command === CellCommand.Created) return this.wake('created', cell.body.subarray(0, HANDSHAKE2_LEN));
    if (cell.command !== CellCommand.Relay) return;
    const r = unwrapBackward(this.hops, cell.body);
    if (r.kind === 'fail') return this.destroy(`hop ${r.at + 1}: ${r.reason}`);
    const msg = decodeRelay(r.msg);
    if (!msg) return this.destroy('malformed relay message');
    if (msg.command === RelayCommand.Extended) {
      if (r.from !== this.hops.length - 1 || !isExtended(msg.data)) return this.destroy('unexpected EXTENDED');
      return this.wake('extended', msg.data);
    }
    if (r.from !== this.hops.length - 1) return this.destroy('stream message from a middle hop');
    this.streamMessage(msg);
  }

  private streamMessage(msg: RelayMessage): void {
    const stream = this.streams.get(msg.streamId);
    if (!stream) return;
    for (const w of this.waiters) {
      if (w.expect !== 'stream' || w.streamId !== msg.streamId) continue;
      if (msg.command === RelayCommand.Connected) return this.wakeOne(w, msg.data);
      if (msg.command === RelayCommand.End) {
        this.waiters.delete(w);
        const reason = msg.data[0] ?? EndReason.Protocol;
        const code = reason === EndReason.ExitPolicy ? 'ERR_ONION_EXIT_POLICY' : 'ERR_ONION_STREAM';
        return w.reject(new OnionError(code, `exit refused the stream (reason ${reason})`));
      }
    }
    stream.deliver(msg);
  }

  private sendRelay(target: number, command: RelayCommand, streamId: number, data?: Uint8Array): boolean {
    if (this.closed) return false;
    const cell = allocCell(this.circId, CellCommand.Relay);
    wrapForward(this.hops, target, encodeRelay(command, streamId, data), cellBody(cell));
    if (this.link.send(cell)) return true;
    this.destroy('link backlog full');
    return false;
  }

  private await(expect: Waiter['expect'], timeoutMs: number, send: () => boolean, streamId?: number): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new OnionError(expect === 'stream' ? 'ERR_ONION_STREAM' : 'ERR_ONION_HANDSHAKE', `no ${expect} reply within ${timeoutMs} ms`));
      }, timeoutMs);
      const w: Waiter = {
        expect,
        streamId,
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      this.waiters.add(w);
      if (!send()) w.reject(new OnionError('ERR_ONION_DESTROYED', this.closeReason || 'send refused'));
    });
  }

  private wake(expect: Waiter['expect'], data: Uint8Array): void {
    for (const w of this.waiters) if (w.expect === expect) return this.wakeOne(w, data);
    this.destroy(`unexpected ${expect.toUpperCase()}`);
  }

  private wakeOne(w: Waiter, data: Uint8Array): void {
    this.waiters.delete(w);
    w.resolve(Uint8Array.from(data));
  }

  private teardown(reason: string): void {
    this.closed = true;
    this.closeReason = reason;
    this.host.unregister(this.link, this.circId);
    const err = new OnionError('ERR_ONION_DESTROYED', `circuit destroyed: ${reason}`);
    for (const w of this.waiters) w.reject(err);
    this.waiters.clear();
    for (const s of this.streams.values()) s.abort(err);
    this.streams.clear();
    for (const h of this.hops) h.wipe();
    this.onClose(reason);
  }
}
