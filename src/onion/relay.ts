import type { PrivateKey, PublicKey } from '../crypto/keys.js';
import { silentLogger, type Logger } from '../log.js';
import { allocCell, BODY_LEN, cellBody, CellCommand, encodeCell, type Cell } from './cells.js';
import { HANDSHAKE1_LEN, HANDSHAKE2_LEN, HopCipher, respondHandshake } from './hop-crypto.js';
import { capacityAt, MAX_HOPS, originateBackward, unwrapForward, wrapBackward } from './layers.js';
import type { CellLink } from './link.js';
import { decodeExtend, decodeRelay, encodeRelay, EndReason, RelayCommand, type RelayMessage } from './relay-msg.js';

// The hop side of circuits: every member that serves circuits runs one OnionRelay. For
// each circuit it holds exactly what a Tor relay holds: the neighbour it came from
// (link, hop-local circId), the neighbour it extends to (if any), its depth and its own
// per-hop cipher. It never sees the client's address (only the previous hop's link),
// and unless it is the exit it never sees a destination: those are inside layers it
// cannot open. Its log lines carry only circIds, link names and reasons.
//
// Nothing thrown escapes handleCell: every malformed, tagged or replayed input is
// counted and, when it belongs to a circuit, destroys that circuit in both directions.

export interface CircuitEnd {
  link: CellLink;
  circId: number;
}

/** What a hop knows about one circuit (tests inspect it). */
export interface HopCircuit {
  prev: CircuitEnd;
  next: CircuitEnd | null;
  depth: number;
  /** An EXTEND is waiting for the next hop's CREATED. */
  extending: boolean;
  cipher: HopCipher;
}

/** The exit role, if this relay has one (exit.ts). */
export interface ExitRole {
  handle(c: HopCircuit, msg: RelayMessage): void;
  circuitClosed(c: HopCircuit): void;
}

export interface RelayOptions {
  staticPrivate: PrivateKey;
  staticPublic: PublicKey;
  logger?: Logger;
  /** Circuits this hop carries at once; CREATEs beyond are answered with DESTROY. */
  maxCircuits?: number;
  /** Which next-hop addresses an EXTEND may name (the agent allows only members). */
  allowExtend?: (address: string) => boolean;
  /** Opens (or reuses) the link to a next hop. */
  connect: (address: string) => CellLink | null;
  /** A circId unused on `link` by this node (client circuits share the id space); 0 if none. */
  allocCircId: (link: CellLink) => number;
}

export interface RelayCounters {
  created: number;
  destroyed: number;
  badTag: number;
  replay: number;
  malformed: number;
  refused: number;
  unknownCircuit: number;
}

/** Where a forward body goes when there is no next hop (the cell is then refused anyway). */
const SINK = new Uint8Array(BODY_LEN);

const key = (link: CellLink, circId: number): string => `${link.id}|${circId}`;

export class OnionRelay {
  readonly counters: RelayCounters = { created: 0, destroyed: 0, badTag: 0, replay: 0, malformed: 0, refused: 0, unknownCircuit: 0 };
  exit: ExitRole | null = null;
  private readonly byPrev = new Map<string, HopCircuit>();
  private readonly byNext = new Map<string, HopCircuit>();
  private readonly log: Logger;
  private readonly maxCircuits: number;

  constructor(private readonly opts: RelayOptions) {
    this.log = opts.logger ?? silentLogger;
    this.maxCircuits = opts.maxCircuits ?? 1024;
  }

  /** True when the cell belonged to this relay (a hop circuit or a new CREATE). */
  handleCell(link: CellLink, cell: Cell): boolean {
    try {
      return this.dispatch(link, cell);
    } catch (err) {
      this.counters.malformed++;
      this.log.warn({ err: (err as Error).message }, 'onion relay: cell handler failed');
      return true;
    }
  }

  /** A link went away: every circuit using it is destroyed on its other side. */
  linkClosed(link: CellLink): void {
    for (const c of [...this.byPrev.values()]) {
      if (c.prev.link === link || c.next?.link === link) this.kill(c, 'link closed', link);
    }
  }

  /** Sends a relay message this hop originates (EXTENDED, exit stream traffic) to the client. */
  sendBack(c: HopCircuit, command: RelayCommand, streamId: number, data?: Uint8Array): boolean {
    if (!this.byPrev.has(key(c.prev.link, c.prev.circId))) return false;
    const cell = allocCell(c.prev.circId, CellCommand.Relay);
    originateBackward(c.cipher, c.depth, encodeRelay(command, streamId, data), cellBody(cell));
    if (c.prev.link.send(cell)) return true;
    this.kill(c, 'link backlog full');
    return false;
  }

  /** Tears a circuit down and tells both neighbours (except `except`, already gone). */
  kill(c: HopCircuit, reason: string, except?: CellLink): void {
    if (!this.byPrev.delete(key(c.prev.link, c.prev.circId))) return;
    if (c.next) this.byNext.delete(key(c.next.link, c.next.circId));
    this.counters.destroyed++;
    for (const end of [c.prev, c.next]) {
      if (end && end.link !== except) end.link.send(encodeCell(end.circId, CellCommand.Destroy));
    }
    c.cipher.wipe();
    this.exit?.circuitClosed(c);
    this.log.debug({ link: c.prev.link.id, circId: c.prev.circId, reason }, 'onion relay: circuit destroyed');
  }

  /** Is this (link, circId) taken by a hop circuit? */
  uses(link: CellLink, circId: number): boolean {
    const k = key(link, circId);
    return this.byPrev.has(k) || this.byNext.has(k);
  }

  /** Circuits carried now. */
  circuits(): HopCircuit[] {
    return [...this.byPrev.values()];
  }

  private dispatch(link: CellLink, cell: Cell): boolean {
    const k = key(link, cell.circId);
    const fromPrev = this.byPrev.get(k);
    const fromNext = fromPrev ? undefined : this.byNext.get(k);
    switch (cell.command) {
      case CellCommand.Padding:
        return true;
      case CellCommand.Create:
        if (fromPrev || fromNext) {
          this.counters.malformed++;
          return true;
        }
        this.create(link, cell);
        return true;
      case CellCommand.Created:
        if (!fromNext?.extending) return false;
        fromNext.extending = false;
        this.sendBack(fromNext, RelayCommand.Extended, 0, cell.body.subarray(0, HANDSHAKE2_LEN));
        return true;
      case CellCommand.Destroy:
        if (fromPrev) this.kill(fromPrev, 'destroy from previous hop', link);
        else if (fromNext) this.kill(fromNext, 'destroy from next hop', link);
        return !!(fromPrev || fromNext);
      case CellCommand.Relay:
        if (fromPrev) this.forward(fromPrev, cell.body);
        else if (fromNext) this.backward(fromNext, cell.body);
        else return false;
        return true;
      default:
        return false;
    }
  }

  private create(link: CellLink, cell: Cell): void {
    const refuse = (why: string): void => {
      this.counters.refused++;
      this.log.debug({ link: link.id, circId: cell.circId, reason: why }, 'onion relay: CREATE refused');
      link.send(encodeCell(cell.circId, CellCommand.Destroy));
    };
    if (this.byPrev.size >= this.maxCircuits) return refuse('circuit limit');
    const hs = respondHandshake(this.opts.staticPrivate, this.opts.staticPublic, cell.body.subarray(0, HANDSHAKE1_LEN));
    if (!hs) return refuse('handshake failed');
    if (hs.depth < 1 || hs.depth > MAX_HOPS) return refuse('bad depth');
    const c: HopCircuit = { prev: { link, circId: cell.circId }, next: null, depth: hs.depth, extending: false, cipher: HopCipher.forHop(hs.keys) };
    this.byPrev.set(key(link, cell.circId), c);
    this.counters.created++;
    link.send(encodeCell(cell.circId, CellCommand.Created, hs.message2));
    this.log.debug({ link: link.id, circId: cell.circId }, 'onion relay: circuit created');
  }

  private forward(c: HopCircuit, body: Uint8Array): void {
    const next = c.next && !c.extending ? allocCell(c.next.circId, CellCommand.Relay) : null;
    const r = unwrapForward(c.cipher, c.depth, body, next ? cellBody(next) : SINK);
    if (r.kind === 'fail') {
      if (r.reason === 'replay') this.counters.replay++;
      else this.counters.badTag++;
      return this.kill(c, r.reason);
    }
    if (r.kind === 'forward') {
      if (!next || !c.next) return this.kill(c, 'relay cell past the end of the circuit');
      if (!c.next.link.send(next)) this.kill(c, 'link backlog full');
      return;
    }
    const msg = decodeRelay(r.msg);
    if (!msg) {
      this.counters.malformed++;
      return this.kill(c, 'malformed relay message');
    }
    if (msg.command === RelayCommand.Extend) return this.extend(c, msg.data);
    if (msg.command === RelayCommand.Extended || msg.command === RelayCommand.Connected) {
      this.counters.malformed++;
      return this.kill(c, 'unexpected relay command');
    }
    if (this.exit) return this.exit.handle(c, msg);
    // Not an exit: refuse streams, ignore stray flow control.
    if (msg.command === RelayCommand.Begin) this.sendBack(c, RelayCommand.End, msg.streamId, Uint8Array.of(EndReason.NotExit));
  }

  private backward(c: HopCircuit, body: Uint8Array): void {
    const cell = allocCell(c.prev.circId, CellCommand.Relay);
    wrapBackward(c.cipher, c.depth, body, cellBody(cell));
    if (!c.prev.link.send(cell)) this.kill(c, 'link backlog full');
  }

  private extend(c: HopCircuit, data: Uint8Array): void {
    const ext = decodeExtend(data);
    if (!ext || c.next || c.depth >= MAX_HOPS) {
      this.counters.malformed++;
      return this.kill(c, 'bad EXTEND');
    }
    if (this.opts.allowExtend && !this.opts.allowExtend(ext.address)) return this.kill(c, 'EXTEND to a non-member');
    const link = this.opts.connect(ext.address);
    if (!link) return this.kill(c, 'EXTEND address unusable');
    const circId = this.opts.allocCircId(link);
    if (circId === 0) return this.kill(c, 'no free circuit id');
    c.next = { link, circId };
    c.extending = true;
    this.byNext.set(key(link, circId), c);
    if (!link.send(encodeCell(circId, CellCommand.Create, ext.message1))) this.kill(c, 'link backlog full');
  }
}

/** Bytes of stream data one cell carries from or to the hop at `depth`. */
export const streamChunkAt = (depth: number): number => capacityAt(depth) - 5;
