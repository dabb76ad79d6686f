import { systemClock, type Clock } from '../clock.js';
import { silentLogger, type Logger } from '../log.js';
import { equalBytes } from '../crypto/constant-time.js';
import { WeftError } from '../errors.js';
import { isZeroKey, keyToBase64, publicKeyFromPrivate, type PresharedKey, type PrivateKey, type PublicKey } from '../crypto/keys.js';
import { PacketBatch, TRANSPORT_HEADROOM } from '../io/batch.js';
import type { Bind } from '../io/bind.js';
import type { Endpoint } from '../io/endpoint.js';
import type { TunDevice } from '../io/tun.js';
import { AllowedIPs } from './allowedips.js';
import { formatPrefix, parsePrefix } from '../net/prefix.js';
import { configFromUapi, parseDeviceConfig, prefixesText, type DeviceConfig } from './config.js';
import { CookieChecker } from './cookie.js';
import { IndexTable } from './index-table.js';
import { KeypairPool, type Keypair } from './keypair.js';
import { CROSSING_WAIT_MS, HandshakeInitiator } from './handshake-initiator.js';
import type { NoiseIdentity } from './noise-protocol.js';
import { Peer } from './peer.js';
import { Ratelimiter } from './ratelimiter.js';
import { InboundPath } from './receive.js';
import { OutboundPath } from './send.js';
import { DEFAULT_MTU } from './constants.js';
import { UapiError, type UapiDeviceChange, type UapiDeviceSnapshot, type UapiTarget } from './uapi.js';
import { DeviceStats } from './stats.js';
import { ControlSender } from './control-out.js';
import { HandshakeOffload } from './handshake-offload.js';

/** A per-packet hook: the IP packet is buf[off .. off+len] (offsets, so no view per packet). */
export type PacketTap<R> = (buf: Uint8Array, off: number, len: number) => R;

export interface DeviceOptions {
  tun: TunDevice;
  bind: Bind;
  clock?: Clock;
  logger?: Logger;
  /** Uniform [0,1) source for timer jitter; injectable for deterministic tests. */
  random?: () => number;
  /**
   * Debugging only, off by default: receives Wireshark `wg.keylog_file` lines (this
   * node's static and ephemeral private keys) for every handshake, so captures decrypt.
   */
  keyLog?: (lines: string) => void;
  /** Crossing-handshake tie-break for peers added with `initiate` (handshake-initiator.ts); default CROSSING_WAIT_MS. */
  crossingWaitMs?: number;
  /**
   * Answer initiations on a worker thread once they come fast (handshake-offload.ts),
   * so a handshake storm uses a second core and does not hold up established
   * sessions. Default true.
   */
  handshakeWorker?: boolean;
}

/** What the engine tells about one peer; a copy, so holding it changes nothing. */
export interface PeerStatusView {
  endpoint: string | null;
  /** Unix ms of the latest handshake, 0 = never. */
  lastHandshakeWallMs: number;
  /** Monotonic ms (device clock) when the current session was made, null = none. */
  sessionCreatedMs: number | null;
  /** Unanswered initiations in the current attempt. */
  handshakeAttempts: number;
  handshakes: number;
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
}

/** The listen port could not be bound; the device keeps its old one. */
export class ListenError extends WeftError {
  constructor(
    readonly port: number,
    cause: unknown,
  ) {
    super('ERR_LISTEN', `cannot listen on port ${port}: ${(cause as Error).message}`, { cause });
  }
}

// The Device ties one TUN and one UDP bind to a set of peers. It is the UAPI target
// (`wg show` / `wg set`), owns the index table, the allowed-IPs table, the cookie
// checker and the ratelimiter, and drives the send and receive paths.
export class Device implements UapiTarget {
  readonly tun: TunDevice;
  readonly bind: Bind;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random: () => number;
  readonly keyLog?: (lines: string) => void;
  readonly peers = new Map<string, Peer>();
  readonly allowedIps = new AllowedIPs<Peer>();
  readonly indexTable = new IndexTable();
  readonly keypairPool = new KeypairPool();
  readonly ratelimiter: Ratelimiter;
  readonly stats = new DeviceStats();
  identity: NoiseIdentity | null = null;
  cookieChecker: CookieChecker | null = null;
  listenPort = 0;
  fwmark = 0;
  private readonly initiator: HandshakeInitiator;
  private readonly outbound: OutboundPath;
  private readonly inbound: InboundPath;
  private readonly control: ControlSender;
  /** Set when initiations are answered on a worker thread. */
  readonly handshakeOffload: HandshakeOffload | null = null;
  private started = false;
  private closed = false;

  constructor(opts: DeviceOptions) {
    this.tun = opts.tun;
    this.bind = opts.bind;
    this.control = new ControlSender(this.bind, (err) => {
      this.stats.handlerErrors++;
      this.logger.error({ err }, 'control send failed');
    });
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
    this.random = opts.random ?? Math.random;
    this.keyLog = opts.keyLog;
    this.ratelimiter = new Ratelimiter({ clock: this.clock });
    this.initiator = new HandshakeInitiator(this, opts.crossingWaitMs ?? CROSSING_WAIT_MS);
    this.outbound = new OutboundPath(this);
    this.inbound = new InboundPath(this);
    if (opts.handshakeWorker !== false) {
      this.handshakeOffload = new HandshakeOffload({
        identity: () => this.identity?.privateKey ?? null,
        peers: () => [...this.peers.values()].map((p) => ({ key: p.publicKey, psk: p.handshake.presharedKey })),
        done: (job, result) => {
          try {
            this.inbound.completeInitiation(job, result);
          } catch (err) {
            this.stats.handlerErrors++;
            this.logger.error({ err }, 'handshake completion failed');
          }
        },
        failed: (err) => this.logger.warn({ err: err.message }, 'handshake worker failed; answering initiations on the main thread'),
        started: () => this.onActive?.(),
      });
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get mtu(): number {
    return this.tun.mtu || DEFAULT_MTU;
  }

  /** Opens the UDP port and starts moving packets. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.openBind(this.listenPort);
    this.tun.start({
      onPackets: (batch) => this.outbound.fromTun(batch),
      onClose: (err) => this.onTunClosed?.(err),
    });
  }

  /** Called when the TUN goes away (interface deleted); the owner decides what to do. */
  onTunClosed?: (err?: Error) => void;

  /**
   * Inbound tap: sees every decrypted IP packet before it goes to the TUN and returns
   * true to consume it. The packet is buf[off .. off+len] of a reused batch (copy to keep
   * it; no view is made per packet). Leave unset when not needed: the receive path then
   * costs one undefined check.
   */
  onInboundPacket: PacketTap<boolean> | undefined = undefined;

  /**
   * Outbound hook: sees every packet read from the TUN (or injected with sendPacket)
   * that routes to a peer, before it is sealed (e.g. to record flows for a stateful
   * filter). buf[off .. off+len] of a reused batch; unset, it costs one undefined check.
   */
  onOutboundPacket: PacketTap<void> | undefined = undefined;

  /**
   * Tap for packets from the TUN that no peer routes: returns true when it took the
   * packet (e.g. `--exit-circuit` carries outside TCP into the circuit), false to count
   * it as unrouted. Same buffer rules as the other taps.
   */
  onUnroutedPacket: PacketTap<boolean> | undefined = undefined;

  /**
   * Called at every completed handshake (a session exists: data flows) and when
   * initiations come fast enough to start the handshake worker: the moments the data
   * path becomes busy (`weft up` turns V8's optimizing compiler on there). Never per
   * packet.
   */
  onActive: (() => void) | undefined = undefined;

  /**
   * Sends an IP packet into the mesh as if the TUN had read it (routed by destination
   * through allowed IPs, handshaking first if needed), e.g. for in-engine pings.
   * Returns false when no peer routes the destination.
   */
  sendPacket(packet: Uint8Array): boolean {
    if (!this.allowedIps.lookupPacket(packet, 0, packet.length, 'dst')) return false;
    const b = (this.injectBatch ??= new PacketBatch(1, TRANSPORT_HEADROOM + 65536 + 64));
    b.reset();
    if (!b.push(packet, TRANSPORT_HEADROOM)) return false;
    this.outbound.fromTun(b);
    b.reset();
    return true;
  }
  private injectBatch: PacketBatch | undefined;

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const peer of this.peers.values()) this.removePeer(peer);
    this.ratelimiter.close();
    await this.handshakeOffload?.close();
    await this.bind.close();
    await this.tun.stop();
  }

  private async openBind(port: number): Promise<void> {
    const bound = await this.bind.open(port, {
      onReceive: (batch, sources) => this.inbound.fromBind(batch, sources),
    });
    this.listenPort = bound;
    if (this.fwmark) this.bind.setMark(this.fwmark);
  }

  peerName(peer: Peer): string {
    return keyToBase64(peer.publicKey).slice(0, 8) + '…';
  }

  lookupPeer(publicKey: Uint8Array): Peer | undefined {
    return this.peers.get(Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('hex'));
  }

  // --- configuration (used by UAPI and by the agent) ---------------------------------

  setPrivateKey(key: PrivateKey | null): void {
    if (key && this.identity && equalBytes(key, this.identity.privateKey)) return;
    const identity = key ? { privateKey: key, publicKey: publicKeyFromPrivate(key) } : null;
    this.identity = identity;
    this.cookieChecker = identity ? new CookieChecker(identity.publicKey, this.clock) : null;
    this.handshakeOffload?.setIdentity(key);
    if (identity) {
      // A peer with our own public key would be talking to itself (wg-go removes it).
      const self = this.lookupPeer(identity.publicKey);
      if (self) this.removePeer(self);
    }
    for (const peer of this.peers.values()) {
      peer.handshake.setIdentity(identity);
      this.expireSessions(peer);
    }
  }

  addPeer(publicKey: PublicKey): Peer {
    const existing = this.lookupPeer(publicKey);
    if (existing) return existing;
    const peer = new Peer(this, publicKey);
    peer.handshake.setIdentity(this.identity);
    this.peers.set(Buffer.from(publicKey).toString('hex'), peer);
    this.handshakeOffload?.peerChanged(publicKey, peer.handshake.presharedKey);
    return peer;
  }

  removePeer(peer: Peer): void {
    peer.timers.stopAll();
    this.expireSessions(peer);
    this.allowedIps.removeByValue(peer);
    this.peers.delete(Buffer.from(peer.publicKey).toString('hex'));
    this.handshakeOffload?.peerChanged(peer.publicKey, null);
  }

  setPresharedKey(peer: Peer, psk: PresharedKey): void {
    peer.handshake.presharedKey = psk;
    this.handshakeOffload?.peerChanged(peer.publicKey, psk);
  }

  setPersistentKeepalive(peer: Peer, seconds: number): void {
    const wasOff = peer.persistentKeepalive === 0;
    peer.persistentKeepalive = seconds;
    if (seconds === 0) peer.timers.persistentKeepalive.del();
    // Turning it on sends a keepalive at once so a NAT mapping opens now (wg-go does).
    else if (wasOff && this.started) this.sendKeepalive(peer);
  }

  async setListenPort(port: number): Promise<void> {
    if (port === this.listenPort && this.started) return;
    if (!this.started) {
      this.listenPort = port;
      return;
    }
    const old = this.listenPort;
    await this.bind.close();
    try {
      await this.openBind(port);
    } catch (err) {
      // Keep the device reachable on its old port when the new one is taken.
      await this.openBind(old);
      throw err;
    }
  }

  setFwmark(mark: number): void {
    this.fwmark = mark;
    if (this.started) this.bind.setMark(mark);
  }

  // --- UAPI -----------------------------------------------------------------------------

  snapshot(): UapiDeviceSnapshot {
    return {
      privateKey: this.identity?.privateKey ?? null,
      listenPort: this.listenPort,
      fwmark: this.fwmark,
      peers: [...this.peers.values()].map((p) => ({
        publicKey: p.publicKey,
        presharedKey: isZeroKey(p.handshake.presharedKey) ? null : p.handshake.presharedKey,
        endpoint: p.endpoint?.key ?? null,
        lastHandshakeMs: p.lastHandshakeWallMs,
        rxBytes: BigInt(p.rxBytes),
        txBytes: BigInt(p.txBytes),
        persistentKeepalive: p.persistentKeepalive,
        allowedIps: this.allowedIps.entriesFor(p).map(formatPrefix),
      })),
    };
  }

  /** `wg set`: the change on top of what runs, through the same reconfigure as the agent. */
  async apply(change: UapiDeviceChange): Promise<void> {
    try {
      await this.reconfigure(configFromUapi(this.snapshot(), change));
    } catch (err) {
      if (err instanceof ListenError) throw new UapiError('ERR_UAPI_ADDRINUSE', `cannot listen on port ${err.port}: ${(err.cause as Error).message}`, { cause: err.cause });
      throw err;
    }
  }

  /**
   * Makes the engine run `config` (config.ts). Everything is validated first, so a bad
   * config changes nothing; then the port, key and mark, then the peers: absent ones are
   * removed, new ones added, and on the others only what differs is touched, so their
   * sessions and timers go on. Throws ListenError when the port cannot be bound (the
   * old one stays).
   */
  async reconfigure(config: DeviceConfig): Promise<void> {
    const cfg = parseDeviceConfig(config);
    if (cfg.listenPort !== undefined && cfg.listenPort !== this.listenPort) {
      try {
        await this.setListenPort(cfg.listenPort);
      } catch (err) {
        throw new ListenError(cfg.listenPort, err);
      }
    }
    const key = this.identity?.privateKey ?? null;
    if (key === null ? cfg.privateKey !== null : cfg.privateKey === null || !equalBytes(key, cfg.privateKey)) this.setPrivateKey(cfg.privateKey);
    if (cfg.fwmark !== undefined && cfg.fwmark !== this.fwmark) this.setFwmark(cfg.fwmark);
    const own = this.identity?.publicKey;
    const wanted = new Map(cfg.peers.filter((p) => !own || !equalBytes(p.publicKey, own)).map((p) => [p.hex, p]));
    for (const [hex, peer] of [...this.peers]) if (!wanted.has(hex)) this.removePeer(peer);
    const added: Peer[] = [];
    for (const pc of wanted.values()) {
      let peer = this.peers.get(pc.hex);
      if (!peer) {
        peer = this.addPeer(pc.publicKey);
        if (pc.initiate) added.push(peer);
      }
      if (!equalBytes(peer.handshake.presharedKey, pc.presharedKey)) this.setPresharedKey(peer, pc.presharedKey);
      if (pc.endpoint !== undefined && !(pc.endpoint === null ? peer.endpoint === null : peer.endpoint?.equals(pc.endpoint))) peer.endpoint = pc.endpoint;
      if (prefixesText(this.allowedIps.entriesFor(peer)) !== pc.allowedIpsText) {
        // One synchronous step: no packet is routed between the removal and the inserts.
        this.allowedIps.removeByValue(peer);
        for (const p of pc.allowedIps) this.allowedIps.insert(p, peer);
      }
      if (peer.persistentKeepalive !== pc.persistentKeepalive) this.setPersistentKeepalive(peer, pc.persistentKeepalive);
    }
    for (const peer of added) this.initiator.initiateNew(peer);
  }

  /** A read-only view of one peer (status, metrics); undefined when the engine does not run it. */
  peerStatus(publicKey: Uint8Array): PeerStatusView | undefined {
    const p = this.lookupPeer(publicKey);
    if (!p) return undefined;
    const kp = p.keypairs.current;
    return {
      endpoint: p.endpoint?.key ?? null,
      lastHandshakeWallMs: p.lastHandshakeWallMs,
      sessionCreatedMs: kp ? kp.created : null,
      handshakeAttempts: p.timers.handshakeAttempts,
      handshakes: p.handshakes,
      rxBytes: p.rxBytes,
      txBytes: p.txBytes,
      rxPackets: p.rxPackets,
      txPackets: p.txPackets,
    };
  }

  // --- sessions and handshakes ------------------------------------------------------------

  /** Sends a handshake initiation unless one went out less than REKEY_TIMEOUT ago (handshake-initiator.ts). */
  sendHandshakeInitiation(peer: Peer, isRetry: boolean): void {
    this.initiator.initiate(peer, isRetry);
  }

  /** We answered the peer's initiation while ours (`superseded`) was in flight (handshake-initiator.ts). */
  handshakeCrossed(peer: Peer, superseded: number): void {
    this.initiator.afterCrossing(peer, superseded);
  }

  /** A handshake response for no live index of ours (handshake-initiator.ts). */
  staleResponse(receiverIndex: number): void {
    this.initiator.staleResponse(receiverIndex);
  }

  ephemeralForKeyLog(peer: Peer): PrivateKey | undefined {
    return this.initiator.ephemeralForKeyLog(peer);
  }

  /** Sends a keepalive (an empty transport packet), handshaking first if needed. */
  sendKeepalive(peer: Peer): void {
    if (peer.staged.length === 0) peer.stage(new Uint8Array(0));
    this.outbound.sendStaged(peer);
  }

  sendStaged(peer: Peer): void {
    this.outbound.sendStaged(peer);
  }

  /** Sends one handshake-type message to the peer's endpoint. */
  sendControl(peer: Peer, msg: Uint8Array): void {
    if (!peer.endpoint) {
      this.stats.noEndpoint++;
      return;
    }
    this.sendTo(peer.endpoint, msg);
    peer.txBytes += msg.length;
    peer.txPackets++;
  }

  /** Sends one handshake-type message; those of one turn leave together (control-out.ts). */
  sendTo(to: Endpoint, msg: Uint8Array): void {
    this.control.send(to, msg);
  }

  /** Records a freshly derived session and retires what it displaces. */
  installKeypair(peer: Peer, kp: Keypair): void {
    this.indexTable.swapForKeypair(kp.localIndex, kp);
    for (const old of peer.keypairs.install(kp)) this.forgetKeypair(old);
  }

  forgetKeypair(kp: Keypair): void {
    this.indexTable.delete(kp.localIndex);
    this.keypairPool.release(kp);
  }

  /** Drops all sessions and handshake state of a peer (key change, removal, 540 s timer). */
  expireSessions(peer: Peer): void {
    for (const kp of peer.keypairs.clear()) this.forgetKeypair(kp);
    if (peer.handshake.localIndex) this.indexTable.delete(peer.handshake.localIndex);
    peer.handshake.localIndex = 0;
    peer.handshake.clear();
  }

  zeroKeyMaterial(peer: Peer): void {
    this.expireSessions(peer);
  }
}
