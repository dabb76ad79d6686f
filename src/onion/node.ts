import { randomInt } from 'node:crypto';
import type { PrivateKey, PublicKey } from '../crypto/keys.js';
import { silentLogger, type Logger } from '../log.js';
import { CellCommand, type Cell } from './cells.js';
import { Circuit, type BuildOptions, type CircuitHost, type PathHop } from './circuit.js';
import { OnionExit, type OnionExitPolicy } from './exit.js';
import { TcpLinkHub, type CellLink, type LinkHubOptions } from './link.js';
import { OnionRelay } from './relay.js';

// One member's onion endpoint: its links, the hop circuits it relays (and exits, if it
// has an exit policy) and the circuits it originates as a client, sharing one circId
// space per link.

export const DEFAULT_CIRCUIT_PORT = 7301;
/** Client circuits one node keeps at once. */
const MAX_CLIENT_CIRCUITS = 256;

export interface OnionNodeOptions extends LinkHubOptions {
  staticPrivate: PrivateKey;
  staticPublic: PublicKey;
  logger?: Logger;
  /** Serve streams to these destinations as an exit; absent = not an exit. */
  exitPolicy?: OnionExitPolicy;
  /** Which next-hop addresses an EXTEND may name. */
  allowExtend?: (address: string) => boolean;
  maxCircuits?: number;
}

export class OnionNode implements CircuitHost {
  readonly hub: TcpLinkHub;
  readonly relay: OnionRelay;
  readonly exit: OnionExit | null;
  private readonly clients = new Map<string, Circuit>();

  constructor(opts: OnionNodeOptions) {
    const log = opts.logger ?? silentLogger;
    this.hub = new TcpLinkHub({ wireTap: opts.wireTap, transport: opts.transport });
    this.relay = new OnionRelay({
      staticPrivate: opts.staticPrivate,
      staticPublic: opts.staticPublic,
      logger: log,
      maxCircuits: opts.maxCircuits,
      allowExtend: opts.allowExtend,
      connect: (a) => this.hub.connect(a),
      allocCircId: (l) => this.allocCircId(l),
    });
    this.exit = opts.exitPolicy ? new OnionExit(this.relay, { policy: opts.exitPolicy, logger: log }) : null;
    this.relay.exit = this.exit;
    this.hub.onCell = (link, cell) => this.onCell(link, cell);
    this.hub.onLinkClosed = (link) => this.onLinkClosed(link);
  }

  listen(host: string, port = DEFAULT_CIRCUIT_PORT): Promise<number> {
    return this.hub.listen(host, port);
  }

  /** Builds a client circuit along `path` (see path.ts for choosing one). */
  buildCircuit(path: readonly PathHop[], opts?: BuildOptions): Promise<Circuit> {
    if (this.clients.size >= MAX_CLIENT_CIRCUITS) return Promise.reject(new Error('too many client circuits'));
    return Circuit.build(this, path, opts);
  }

  connect(address: string): CellLink | null {
    return this.hub.connect(address);
  }

  allocCircId(link: CellLink): number {
    for (let i = 0; i < 16; i++) {
      const id = randomInt(1, 0xffffffff);
      if (!this.clients.has(`${link.id}|${id}`) && !this.relay.uses(link, id)) return id;
    }
    return 0;
  }

  register(link: CellLink, circId: number, c: Circuit): void {
    this.clients.set(`${link.id}|${circId}`, c);
  }

  unregister(link: CellLink, circId: number): void {
    this.clients.delete(`${link.id}|${circId}`);
  }

  async close(): Promise<void> {
    for (const c of [...this.clients.values()]) c.destroy('node closing');
    await this.hub.close();
  }

  private onCell(link: CellLink, cell: Cell): void {
    const client = this.clients.get(`${link.id}|${cell.circId}`);
    if (client) return client.handleCell(cell);
    if (!this.relay.handleCell(link, cell)) this.relay.counters.unknownCircuit++;
  }

  private onLinkClosed(link: CellLink): void {
    this.relay.linkClosed(link);
    for (const [k, c] of [...this.clients]) if (k.startsWith(`${link.id}|`)) c.handleCell({ circId: 0, command: CellCommand.Destroy, body: new Uint8Array(0) });
  }
}
