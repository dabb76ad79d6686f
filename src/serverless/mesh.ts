import { watch, type FSWatcher } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { lookup } from 'node:dns/promises';
import { join } from 'node:path';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { keyToBase64, publicKeyFromPrivate, type PrivateKey, type PublicKey } from '../crypto/keys.js';
import { Endpoint } from '../io/endpoint.js';
import { silentLogger, type Logger } from '../log.js';
import type { MagicBind } from '../nat/magicsock.js';
import type { SelfInfo } from '../agent/backend.js';
import type { LocalNetmapSource, NetmapSink } from '../agent/netmap-source.js';
import { DhtDiscovery, type DhtDiscoveryConfig, type DhtStatus, type DiscoveryMode } from '../dht/discovery.js';
import { DHT_ROUTE } from '../dht/wire.js';
import type { SwimConfig } from './config.js';
import { ServerlessError } from './errors.js';
import { LanDiscovery } from './mdns.js';
import { memberNodeView, ServerlessNetmapSource, SERVERLESS_DOMAIN } from './netmap-source.js';
import { SwimNode } from './swim.js';
import { AUTHORIZED_KEYS_DIR, defaultName, loadTrustStore, saveRevocation, type LoadedTrust } from './trust-store.js';
import { keyId, TrustSet } from './trust.js';
import { MagicGossipTransport } from './udp-transport.js';
import { MemberRelay } from './relay-member.js';
import { Rendezvous } from './rendezvous.js';
import { planFor, ServerlessView, type AddressOptions, type ServerlessMember } from './view.js';

// Serverless mode as the agent runs it (`weft up --serverless`): loads the authorized_keys
// folder, tells the agent who we are (name and key-derived addresses) before its
// interface exists, then runs SWIM on the agent's UDP socket, mDNS on the LAN and a
// watch on the folder, and feeds the agent through ServerlessNetmapSource. Revocations
// learnt by gossip are written to the folder so they survive a restart; a revocation
// file dropped into the folder is applied (and gossiped) as if it had been gossiped.

/** Edits come in bursts (temp file + rename): reload once they settle. */
const RELOAD_DEBOUNCE_MS = 200;

export interface ServerlessMeshOptions {
  stateDir: string;
  /** Default `<stateDir>/authorized_keys`. */
  authorizedKeys?: string;
  /** `HOST:PORT` (IP literal or host name) of members to join through. */
  seeds?: string[];
  /** Volunteer as a relay and STUN server for the members (`--relay`). */
  relay?: boolean;
  /** `--discovery`: SWIM seeds (default), the DHT (seeds only bootstrap it), or both. */
  discovery?: DiscoveryMode;
  dht?: Partial<DhtDiscoveryConfig>;
  /** Announce and find members by mDNS (default true). */
  mdns?: boolean;
  magicDns?: boolean;
  addresses?: AddressOptions;
  config?: Partial<SwimConfig>;
  clock?: Clock;
  logger?: Logger;
}

interface Running {
  node: SwimNode;
  view: ServerlessView;
  source: ServerlessNetmapSource;
  lan: LanDiscovery | null;
  relay: MemberRelay | null;
  rendezvous: Rendezvous;
  dht: DhtDiscovery | null;
  watchers: FSWatcher[];
}

export class ServerlessMesh implements LocalNetmapSource {
  readonly dir: string;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private key: PrivateKey | null = null;
  private trust: TrustSet | null = null;
  private run: Running | null = null;
  private reloadTimer: TimerHandle | null = null;
  private socket: MagicBind | null = null;

  constructor(private readonly o: ServerlessMeshOptions) {
    this.dir = o.authorizedKeys ?? join(o.stateDir, AUTHORIZED_KEYS_DIR);
    this.clock = o.clock ?? systemClock;
    this.logger = o.logger ?? silentLogger;
  }

  get connected(): boolean {
    return this.run?.source.connected ?? false;
  }

  async identify(key: PrivateKey): Promise<SelfInfo> {
    this.key = key;
    const pub = publicKeyFromPrivate(key);
    const id = keyId(pub);
    const loaded = await this.load();
    const trust = (this.trust = new TrustSet(loaded.entries, loaded.revocations));
    if (trust.isRevoked(id)) throw new ServerlessError('ERR_SELF_REVOKED', `this node's key ${id} has been revoked (${this.dir}/revoked)`);
    if (!trust.isMember(id)) {
      throw new ServerlessError('ERR_SELF_NOT_AUTHORIZED', `this node's key ${id} is not in ${this.dir}; run weft keys authorize ${id} --name NAME (and on every other member)`);
    }
    const plan = planFor(pub, trust, this.o.addresses);
    const a = plan.byKey.get(id)!;
    const self: ServerlessMember = { publicKey: id, name: trust.name(id) ?? defaultName(pub), ipv4: a.ipv4, ipv6: a.ipv6, endpoints: [], relay: false, reachAt: null, state: 'alive', left: false, incarnation: 0, self: true };
    for (const c of plan.collisions) this.logger.warn({ key: c.key, address: c.address, heldBy: c.heldBy }, 'address collision in the trust set: the higher key takes the next address');
    return { node: memberNodeView(self, SERVERLESS_DOMAIN), domain: SERVERLESS_DOMAIN, ipv4Range: plan.ipv4Range, ipv6Range: plan.ipv6Range };
  }

  async attach(socket: MagicBind, listenPort: number): Promise<ServerlessMesh> {
    const { key, trust } = this;
    if (!key || !trust) throw new Error('identify() first');
    const publicKey = publicKeyFromPrivate(key);
    const node = new SwimNode({ privateKey: key, publicKey, trust, transport: new MagicGossipTransport(socket), endpoints: [], relay: this.o.relay === true, clock: this.clock, config: this.o.config });
    const view = new ServerlessView(node, trust, this.o.addresses);
    const source = new ServerlessNetmapSource({ view, node, magicDns: this.o.magicDns });
    view.on('change', (c) => {
      this.logger.info({ member: c.member.name, state: c.type }, 'member');
      if (c.type === 'revoked') this.persistRevocation(c.member.publicKey);
      if (c.type === 'revoked') this.run?.relay?.recheck();
    });
    const lan = this.o.mdns === false ? null : new LanDiscovery({ publicKey, port: listenPort, trusted: (k) => trust.isMember(keyId(k)), onPeer: (_k, ep) => node.addSeed(ep), onError: (err) => this.logger.warn({ err: err.message }, 'mDNS') });
    const relay = this.o.relay ? new MemberRelay({ trust, magic: socket, port: listenPort, logger: this.logger }) : null;
    const rendezvous = new Rendezvous({ node, trust, clock: this.clock, deliver: (src, pkt) => socket.receiveRendezvous(src as PublicKey, pkt), onObserved: (ep) => source.setObserved(ep) });
    socket.rendezvous = (k, pkt) => rendezvous.send(k, pkt);
    const mode = this.o.discovery ?? 'swim';
    const dht = mode === 'swim' ? null : new DhtDiscovery({ privateKey: key, publicKey, trust, swim: node, transport: new MagicGossipTransport(socket, DHT_ROUTE), clock: this.clock, config: this.o.dht });
    this.run = { node, view, source, lan, relay, rendezvous, dht, watchers: [] };
    this.socket = socket;
    await relay?.start();
    const seeds = await this.resolveSeeds();
    node.start(mode === 'dht' ? [] : seeds);
    dht?.start(seeds);
    lan?.start();
    await this.watchFolder();
    return this;
  }

  start(sink: NetmapSink): void {
    this.run?.source.start(sink);
  }

  async stop(): Promise<void> {
    const r = this.run;
    this.run = null;
    if (this.reloadTimer) this.clock.clearTimeout(this.reloadTimer);
    if (!r) return;
    for (const w of r.watchers) w.close();
    r.lan?.stop();
    await r.relay?.stop();
    r.rendezvous.stop();
    r.dht?.stop();
    if (this.socket) this.socket.rendezvous = null;
    r.node.leave();
    await r.source.stop();
  }

  reportEndpoints(endpoints: readonly string[]): boolean {
    return this.run?.source.reportEndpoints(endpoints) ?? false;
  }

  reportRoutes(routes: readonly string[]): boolean {
    return this.run?.source.reportRoutes(routes) ?? false;
  }

  /** The DHT discovery with `--discovery dht|both` (counters, table), else null. */
  get dht(): DhtDiscovery | null {
    return this.run?.dht ?? null;
  }

  dhtStatus(): DhtStatus | null {
    return this.run?.dht?.status() ?? null;
  }

  /** Every trusted member we know of (dead ones too), for `weft status`. */
  members(): ServerlessMember[] {
    return this.run?.view.members() ?? [];
  }

  private async load(): Promise<LoadedTrust> {
    const loaded = await loadTrustStore(this.dir);
    for (const s of loaded.skipped) this.logger.warn({ file: s }, 'authorized_keys: skipped a file that does not parse');
    return loaded;
  }

  private async resolveSeeds(): Promise<Endpoint[]> {
    const out: Endpoint[] = [];
    for (const s of this.o.seeds ?? []) {
      const m = /^\[?(.+?)\]?:(\d+)$/.exec(s);
      try {
        out.push(Endpoint.parse(s));
      } catch {
        const addr = m ? await lookup(m[1]).catch(() => null) : null;
        if (addr && m) out.push(Endpoint.of(addr.address, Number(m[2])));
        else this.logger.warn({ seed: s }, 'seed does not resolve; skipped');
      }
    }
    return out;
  }

  private persistRevocation(id: string): void {
    const r = this.trust?.revocations().find((x) => keyToBase64(x.node) === id);
    if (r) saveRevocation(this.dir, r).catch((err: Error) => this.logger.error({ err: err.message }, 'could not store a revocation'));
  }

  /** The folder and its revoked/ subfolder: any edit reloads the trust set. */
  private async watchFolder(): Promise<void> {
    const r = this.run!;
    await mkdir(join(this.dir, 'revoked'), { recursive: true, mode: 0o700 });
    for (const d of [this.dir, join(this.dir, 'revoked')]) {
      const w = watch(d, { persistent: false }, () => this.scheduleReload());
      w.on('error', (err) => this.logger.warn({ err: err.message, dir: d }, 'cannot watch authorized_keys'));
      r.watchers.push(w);
    }
  }

  private scheduleReload(): void {
    if (this.reloadTimer) this.clock.clearTimeout(this.reloadTimer);
    this.reloadTimer = this.clock.setTimeout(() => {
      this.reloadTimer = null;
      this.reload().catch((err: Error) => this.logger.error({ err: err.message }, 'reloading authorized_keys failed; keeping the previous trust set'));
    }, RELOAD_DEBOUNCE_MS);
  }

  /** New entries replace the old; new revocations go through the membership (dropped and gossiped). */
  async reload(): Promise<void> {
    const r = this.run;
    const trust = this.trust;
    if (!r || !trust) return;
    const loaded = await this.load();
    trust.replace(loaded.entries);
    for (const rev of loaded.revocations) r.node.membership.revoke(rev);
    r.view.replan();
    r.relay?.recheck();
    this.logger.info({ nodes: trust.nodes().length, revoked: trust.revocations().length }, 'authorized_keys reloaded');
    r.source.resync();
  }
}
