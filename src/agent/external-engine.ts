import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { PrivateKey } from '../crypto/keys.js';
import type { BackendKind, Engine } from '../wireguard/engine.js';
import { KernelEngine } from '../wireguard/engine-kernel.js';
import { WireguardGoEngine } from '../wireguard/engine-wireguard-go.js';
import { NFT_FILTER_TABLE } from './nft-filter.js';

// The agent's side of an external engine (--backend kernel|wireguard-go): starting it
// with our key and port, and what `weft status` says about what differs. The WireGuard
// UDP port belongs to the engine, so NAT traversal (disco, STUN, relays, which share that
// port in the builtin engine) runs on a second port (external-nat.ts). docs/BACKENDS.md.

export type ExternalKind = Exclude<BackendKind, 'builtin'>;

export interface ExternalEngineOptions {
  kind: ExternalKind;
  ifname: string;
  privateKey: PrivateKey;
  listenPort: number;
  fwmark: number;
  /** wireguard-go's command line before `-f IFNAME`. */
  command?: readonly string[];
  clock: Clock;
  logger: Logger;
  onExit: (reason: string) => void;
}

export async function startExternalEngine(o: ExternalEngineOptions): Promise<Engine> {
  const { ifname, clock, logger } = o;
  const engine = o.kind === 'kernel' ? await KernelEngine.start({ ifname, clock, logger }) : await WireguardGoEngine.start({ ifname, command: o.command, clock, logger, onExit: o.onExit });
  try {
    await engine.reconfigure({ privateKey: o.privateKey, listenPort: o.listenPort, fwmark: o.fwmark, peers: [] });
  } catch (err) {
    await engine.close();
    throw err;
  }
  return engine;
}

/** `weft status`: which engine runs, and what it changes (absent for the builtin engine). */
export interface BackendStatus {
  kind: BackendKind;
  /** Where the netmap's packet filter is enforced. */
  filter: string;
  /** NAT traversal (disco, STUN, relays) on a second port beside the engine, or off. */
  natTraversal: boolean;
  /** That second port (null when NAT traversal is off). */
  discoPort: number | null;
  reason: string;
}

export function externalBackendStatus(kind: ExternalKind, discoPort: number | null): BackendStatus {
  const filter = `nftables table inet ${NFT_FILTER_TABLE}`;
  if (discoPort === null) return { kind, filter, natTraversal: false, discoPort, reason: `NAT traversal is off: peers are reached only at the endpoints the coordinator reports` };
  return {
    kind,
    filter,
    natTraversal: true,
    discoPort,
    reason: `${kind} owns the WireGuard UDP port, so disco, STUN and relays run on UDP port ${discoPort}; WireGuard to peers goes through a loopback proxy per peer onto that port (direct) or the relay`,
  };
}

/** A peer without a direct path while NAT traversal is off: the reason, plus why the backend cannot do better. */
export function externalPathReason(reason: string | null, kind: ExternalKind): string | null {
  return reason === null ? null : `${reason}; no NAT traversal or relay with --backend ${kind}`;
}
