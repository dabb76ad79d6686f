import { WeftError } from '../errors.js';
import type { DeviceConfig } from './config.js';
import type { Device, PeerStatusView } from './device.js';
import type { UapiPeerSnapshot } from './uapi.js';

// The data plane as the agent sees it: one declarative config in (DeviceConfig, the
// same value Device.reconfigure takes), per-peer state out (for `weft status` and the
// endpoint choice), close. `builtin` is our Device on our TUN; `wireguard-go` and
// `kernel` are external engines that own their interface and UDP port
// (engine-wireguard-go.ts, engine-kernel.ts). docs/BACKENDS.md lists what differs.

export const BACKEND_KINDS = ['builtin', 'kernel', 'wireguard-go'] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];

export interface Engine {
  readonly kind: BackendKind;
  /** The network interface the engine reads and writes packets on. */
  readonly ifname: string;
  /** The UDP port WireGuard listens on (the real one, never 0 once started). */
  readonly listenPort: number;
  /** Makes the engine run `config`, touching only what differs. */
  reconfigure(config: DeviceConfig): Promise<void>;
  /** One peer's live state; an external engine answers from its last poll (ENGINE_POLL_MS). */
  peerStatus(publicKey: Uint8Array): PeerStatusView | undefined;
  close(): Promise<void>;
}

export type EngineErrorCode =
  | 'ERR_BACKEND_UNAVAILABLE' // the backend cannot run on this machine (module, binary missing)
  | 'ERR_BACKEND_FAILED' // the engine process exited or stopped answering
  | 'ERR_BACKEND_UNSUPPORTED'; // the operation needs the builtin engine

export class EngineError extends WeftError {
  constructor(code: EngineErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'EngineError';
  }
}

/** The builtin engine behind the interface. */
export class BuiltinEngine implements Engine {
  readonly kind = 'builtin';

  constructor(readonly device: Device) {}

  get ifname(): string {
    return this.device.tun.name;
  }

  get listenPort(): number {
    return this.device.listenPort;
  }

  reconfigure(config: DeviceConfig): Promise<void> {
    return this.device.reconfigure(config);
  }

  peerStatus(publicKey: Uint8Array): PeerStatusView | undefined {
    return this.device.peerStatus(publicKey);
  }

  close(): Promise<void> {
    return this.device.close();
  }
}

/**
 * A peer as a UAPI `get` describes it, in the builtin engine's terms. UAPI has no
 * session age or retry count: the session is taken to start at the last handshake
 * (`now`/`wallNow`: monotonic and wall clock) and retries are unknown (0).
 */
export function peerStatusFromUapi(p: UapiPeerSnapshot, now: number, wallNow: number): PeerStatusView {
  const hs = p.lastHandshakeMs;
  return {
    endpoint: p.endpoint,
    lastHandshakeWallMs: hs,
    sessionCreatedMs: hs > 0 ? now - (wallNow - hs) : null,
    handshakeAttempts: 0,
    handshakes: hs > 0 ? 1 : 0,
    rxBytes: Number(p.rxBytes),
    txBytes: Number(p.txBytes),
    rxPackets: 0,
    txPackets: 0,
  };
}
