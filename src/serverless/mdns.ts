import makeMdns from 'multicast-dns';
import type { Answer, Packet } from 'dns-packet';
import { keyFromBase64, keyToBase64, keyToHex } from '../crypto/keys.js';
import { Endpoint } from '../io/endpoint.js';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';

// LAN discovery by mDNS (RFC 6762/6763 records, npm multicast-dns): each member
// announces the service instance <hex16>._weft-gossip._udp.local with
//   SRV  port = its gossip/WireGuard UDP port
//   TXT  pk=<base64 public key>
// and queries for the service every MDNS_QUERY_INTERVAL_MS. A response from a trusted key
// yields a seed at (source address, SRV port); the caller joins through it, where the
// sealed gossip authenticates the key for real (mDNS itself is not authenticated, so it
// only ever suggests where to look). Found peers are bounded by the trust set.

export const MDNS_SERVICE = '_weft-gossip._udp.local';
export const MDNS_QUERY_INTERVAL_MS = 10_000;
const TTL_S = 120;

/** The part of a multicast-dns instance we use; injected in tests. */
export interface MdnsSocket {
  on(event: 'query', fn: (q: Packet, rinfo: { address: string; port: number }) => void): unknown;
  on(event: 'response', fn: (r: Packet, rinfo: { address: string; port: number }) => void): unknown;
  on(event: 'error' | 'warning', fn: (err: Error) => void): unknown;
  query(q: { questions: { name: string; type: 'PTR' }[] }): void;
  respond(r: { answers: Answer[] }): void;
  destroy(): void;
}

export interface LanDiscoveryOptions {
  publicKey: Uint8Array;
  port: number;
  /** Only keys this accepts (the trust set) are reported. */
  trusted: (key: Uint8Array) => boolean;
  onPeer: (key: Uint8Array, endpoint: Endpoint) => void;
  /** Socket errors (port 5353 taken, no multicast route); discovery just finds nobody. */
  onError?: (err: Error) => void;
  socket?: MdnsSocket;
  /** For the real socket: the interface address to use (default: all). */
  interfaceAddress?: string;
  clock?: Clock;
}

export interface LanDiscoveryCounters {
  responses: number;
  ignored: number;
  found: number;
}

export class LanDiscovery {
  readonly counters: LanDiscoveryCounters = { responses: 0, ignored: 0, found: 0 };
  private readonly socket: MdnsSocket;
  private readonly instance: string;
  private readonly clock: Clock;
  private readonly found = new Map<string, string>();
  private timer: TimerHandle | null = null;

  constructor(private readonly o: LanDiscoveryOptions) {
    this.socket = o.socket ?? (makeMdns({ interface: o.interfaceAddress, bind: '0.0.0.0', loopback: true }) as unknown as MdnsSocket);
    this.clock = o.clock ?? systemClock;
    this.instance = `${keyToHex(o.publicKey).slice(0, 16)}.${MDNS_SERVICE}`;
    this.socket.on('query', (q) => {
      if (q.questions?.some((x) => x.name === MDNS_SERVICE || x.name === this.instance)) this.announce();
    });
    this.socket.on('response', (r, rinfo) => this.response(r, rinfo.address));
    // multicast-dns emits these; unhandled, an 'error' event would end the process.
    this.socket.on('error', (err) => o.onError?.(err));
    this.socket.on('warning', (err) => o.onError?.(err));
  }

  start(): void {
    const tick = (): void => {
      this.socket.query({ questions: [{ name: MDNS_SERVICE, type: 'PTR' }] });
      this.timer = this.clock.setTimeout(tick, MDNS_QUERY_INTERVAL_MS);
    };
    this.announce();
    tick();
  }

  stop(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.socket.destroy();
  }

  private announce(): void {
    this.socket.respond({
      answers: [
        { name: MDNS_SERVICE, type: 'PTR', ttl: TTL_S, data: this.instance },
        { name: this.instance, type: 'SRV', ttl: TTL_S, data: { port: this.o.port, target: `${keyToHex(this.o.publicKey).slice(0, 16)}.local` } },
        { name: this.instance, type: 'TXT', ttl: TTL_S, data: [`pk=${keyToBase64(this.o.publicKey)}`] },
      ],
    });
  }

  /** Reads SRV + TXT of each announced instance; anything odd is ignored and counted. */
  private response(r: Packet, address: string): void {
    this.counters.responses++;
    try {
      const records = [...(r.answers ?? []), ...(r.additionals ?? [])];
      for (const srv of records) {
        if (srv.type !== 'SRV' || !srv.name.endsWith(`.${MDNS_SERVICE}`) || srv.name === this.instance) continue;
        const txt = records.find((x) => x.type === 'TXT' && x.name === srv.name);
        const pk = txt?.type === 'TXT' ? [txt.data].flat().map(String).find((s) => s.startsWith('pk=')) : undefined;
        const key = pk ? keyFromBase64(pk.slice(3)) : null;
        if (!key || !this.o.trusted(key)) {
          this.counters.ignored++;
          continue;
        }
        const endpoint = Endpoint.of(address, srv.data.port);
        const id = keyToBase64(key);
        if (this.found.get(id) === endpoint.key) continue;
        this.found.set(id, endpoint.key);
        this.counters.found++;
        this.o.onPeer(key, endpoint);
      }
    } catch {
      this.counters.ignored++;
    }
  }
}
