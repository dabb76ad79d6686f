import type { Clock } from '../clock.js';
import type { PrivateKey } from '../crypto/keys.js';
import type { Bind } from '../io/bind.js';
import type { Logger } from '../log.js';
import type { NetStack } from '../netstack/stack.js';
import { DEFAULT_MTU } from '../wireguard/constants.js';
import { Device } from '../wireguard/device.js';
import { BuiltinEngine, EngineError, type Engine } from '../wireguard/engine.js';
import { bindFactory, defaultBind, defaultTun, type AgentOptions } from './agent-options.js';
import { startExternalEngine } from './external-engine.js';
import { startExternalNat } from './external-nat.js';
import { pickUdpPort } from './local-endpoints.js';
import { AgentNat } from './nat.js';
import { ENGINE_FWMARK } from './routing.js';
import { Pinger } from './ping.js';
import type { PersistedState } from './state.js';
import type { RouteController } from './routes.js';
import { PacketFilter } from '../policy/filter.js';

// Engine start-up, the agent's first job at `weft up`: the data plane `--backend` names.
// The builtin one is a Device on the TUN (or the userspace stack) and the shared UDP
// socket, wrapped by NAT traversal (MagicBind) unless a test injects its own socket; an
// external one is wireguard-go driven over UAPI (external-engine.ts) with NAT traversal
// on a second port (external-nat.ts).

export interface EngineStartContext {
  opts: AgentOptions;
  iface: string;
  key: PrivateKey;
  netstack: NetStack | null;
  clock: Clock;
  logger: Logger;
  random: () => number;
  /** The engine went away (TUN removed, external daemon exited): the agent stops. */
  onGone(): void;
  /** Each part as soon as it exists, so a failure later in start-up still stops it. */
  onNat(nat: AgentNat): void;
  onDevice(device: Device): void;
  /** This node's local endpoints for the listen port (NAT traversal's candidates). */
  localEndpoints(port: number): string[];
  onEndpointsChanged(): void;
  onPathChange(): void;
  /** Apply the netmap to the engine again (a peer's proxy became ready). */
  resync(): void;
}

export async function startEngine(ctx: EngineStartContext, port: number | undefined): Promise<Engine> {
  const kind = ctx.opts.backend ?? 'builtin';
  if (kind === 'builtin') return new BuiltinEngine(await startDevice(ctx, port));
  if (ctx.netstack || ctx.opts.createTun) throw new EngineError('ERR_BACKEND_UNSUPPORTED', `--backend ${kind} runs its own interface: it cannot be combined with --tun=userspace or an injected TUN`);
  const { iface: ifname, key: privateKey, clock, logger } = ctx;
  const engine = await startExternalEngine({ kind, ifname, privateKey, listenPort: port || (await pickUdpPort()), fwmark: ENGINE_FWMARK, command: ctx.opts.wireguardGo, clock, logger, onExit: ctx.onGone });
  // NAT traversal on a second port unless turned off (`nat: false`): then peers only reach our reported endpoints.
  try {
    if (ctx.opts.nat ?? true) await startExternalNat(ctx, engine);
  } catch (err) {
    await engine.close();
    throw err;
  }
  return engine;
}

async function startDevice(ctx: EngineStartContext, port: number | undefined): Promise<Device> {
  const { opts } = ctx;
  const tun = ctx.netstack ?? (await (opts.createTun ?? defaultTun)(ctx.iface, DEFAULT_MTU));
  let bind = opts.createBind ? opts.createBind() : await defaultBind();
  let device: Device | null = null;
  if (opts.nat ?? !opts.createBind) bind = startNat(ctx, bind, opts.createBind ?? (await bindFactory()), () => device);
  device = new Device({ tun, bind, clock: ctx.clock, logger: ctx.logger, random: ctx.random });
  ctx.onDevice(device);
  device.onTunClosed = (err) => {
    ctx.logger.warn({ err: err?.message }, 'interface removed: stopping');
    ctx.onGone();
  };
  const base = { privateKey: ctx.key, peers: [] };
  await device.reconfigure({ ...base, listenPort: port ?? 0 });
  try {
    await device.start();
  } catch (err) {
    if (!port || opts.port) throw err;
    // The port we used last time is taken now: any port will do, peers learn the new one.
    ctx.logger.warn({ port }, 'previous listen port unavailable; using a random one');
    await device.reconfigure({ ...base, listenPort: 0 });
    await device.start();
  }
  return device;
}

function startNat(ctx: EngineStartContext, inner: Bind, createExtraBind: () => Bind, device: () => Device | null): Bind {
  const { opts } = ctx;
  const tuning = typeof opts.nat === 'object' ? opts.nat : {};
  const nat = new AgentNat({
    ...tuning,
    inner,
    createExtraBind,
    privateKey: ctx.key,
    clock: ctx.clock,
    logger: ctx.logger,
    portMapping: (opts.portMapping ?? !opts.createBind) ? undefined : false,
    localEndpoints: () => {
      const d = device();
      return d ? ctx.localEndpoints(d.listenPort) : [];
    },
    onEndpointsChanged: ctx.onEndpointsChanged,
  });
  nat.onPathChange = ctx.onPathChange;
  ctx.onNat(nat);
  nat.start();
  return nat.bind;
}

/** The builtin engine's packet taps: in-engine ping and the ingress packet filter. */
export function packetTaps(device: Device, state: PersistedState, routes: RouteController, clock: Clock): { pinger: Pinger; filter: PacketFilter } {
  const pinger = new Pinger(device, clock, false);
  const filter = new PacketFilter({ localAddresses: [state.node.ipv4, state.node.ipv6], rules: [], clock });
  device.onOutboundPacket = (buf, off, len) => filter.recordOutbound(buf, off, len);
  // Consumed = dropped: packets we route are judged by the forwarding rules (v5).
  device.onInboundPacket = (buf, off, len) => pinger.onInbound(buf, off, len) || !(routes.mayForward(buf, off, len) ? filter.allowForward(buf, off, len) : filter.allowInbound(buf, off, len));
  return { pinger, filter };
}
