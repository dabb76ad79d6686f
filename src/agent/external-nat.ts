import { ENGINE_FWMARK } from './routing.js';
import { bindFactory, defaultBind } from './agent-options.js';
import type { EngineStartContext } from './engine-start.js';
import { AgentNat } from './nat.js';
import { PeerProxies } from './peer-proxy.js';
import type { Engine } from '../wireguard/engine.js';

// NAT traversal beside an external engine: the engine owns the WireGuard port, so the
// agent runs disco, STUN/netcheck and the relay client on a second UDP port (the
// WireGuard port + 1, else any free one) and reports that socket's endpoints; peers
// find direct paths to it as to any builtin node, and send WireGuard to the engine's own
// port (`wgport:`) at that path's address, where the engine sends from as well. Without
// a direct path WireGuard goes through a loopback proxy per peer (peer-proxy.ts) onto
// MagicBind and over the relay. docs/BACKENDS.md.

export async function startExternalNat(ctx: EngineStartContext, engine: Engine): Promise<AgentNat> {
  const { opts, clock, logger } = ctx;
  const tuning = typeof opts.nat === 'object' ? opts.nat : {};
  let proxies: PeerProxies | null = null;
  const nat: AgentNat = new AgentNat({
    ...tuning,
    inner: opts.createBind ? opts.createBind() : await defaultBind(),
    createExtraBind: opts.createBind ?? (await bindFactory()),
    privateKey: ctx.key,
    clock,
    logger,
    // The gateway maps the engine's port only for the builtin engine (one socket there).
    portMapping: false,
    localEndpoints: (): string[] => ctx.localEndpoints(nat.magic.port),
    onEndpointsChanged: ctx.onEndpointsChanged,
    peerEndpoints: { sync: (synth, direct) => proxies!.sync(synth, direct), close: () => proxies!.close(), stats: () => ({ ...proxies!.stats }), wireguardPort: () => engine.listenPort },
  });
  proxies = new PeerProxies({ enginePort: () => engine.listenPort, send: (b, to) => nat.magic.send(b, to), logger, onReady: ctx.resync });
  // A direct path found or lost changes the engine's endpoint for the peer.
  nat.onPathChange = () => {
    ctx.onPathChange();
    ctx.resync();
  };
  ctx.onNat(nat);
  const preferred = engine.listenPort < 65535 ? engine.listenPort + 1 : 0;
  let discoPort: number;
  try {
    discoPort = await nat.magic.open(preferred, proxies);
  } catch {
    logger.warn({ port: preferred }, 'WireGuard port + 1 is taken: disco and STUN use a random port');
    discoPort = await nat.magic.open(0, proxies);
  }
  nat.magic.setMark(ENGINE_FWMARK);
  nat.start();
  logger.info({ discoPort, wireguardPort: engine.listenPort }, 'NAT traversal on a second port beside the external engine');
  return nat;
}
