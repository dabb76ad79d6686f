import type http from 'node:http';
import type https from 'node:https';
import ipaddr from 'ipaddr.js';
import { keyToBase64 } from '../crypto/keys.js';
import type { Logger } from '../log.js';
import { StunServer } from '../nat/stun-server.js';
import { RelayServer } from '../relay/server.js';
import type { RelayInfo } from './wire.js';

// The relay and STUN servers `weft server` embeds (NAT traversal), and the relay map it
// publishes in the netmap. The relay shares the API's HTTP server at /relay and admits
// registered, unexpired node keys only. STUN listens on UDP `stunPort` and `stunPort+1`
// (two ports, so a node behind an endpoint-dependent NAT sees two different mappings).

export interface RelayEmbedOptions {
  /** Serve the embedded relay at /relay (default true). */
  relay?: boolean;
  /** Public URL of the embedded relay (default ws(s)://<api host:port>/relay). */
  relayUrl?: string;
  /** Region id of the embedded relay (default "default"). */
  relayId?: string;
  /** UDP STUN port; 0 or absent disables the embedded STUN (`weft server` defaults to 3478). */
  stunPort?: number;
  /** STUN endpoints to advertise (default: the relay URL's host on stunPort and stunPort+1). */
  stunAdvertise?: string[];
  /** Standalone relays (`weft relay`) to publish as well. */
  extraRelays?: RelayInfo[];
}

export interface EmbeddedRelay {
  relays: RelayInfo[];
  server: RelayServer | null;
  stun: StunServer[];
  stop(): Promise<void>;
}

export async function embedRelay(
  httpServer: http.Server | https.Server,
  apiUrl: string,
  listenHost: string,
  o: RelayEmbedOptions,
  isActive: (keyB64: string) => boolean,
  log: Logger,
): Promise<EmbeddedRelay> {
  const relays: RelayInfo[] = [];
  let server: RelayServer | null = null;
  const stun: StunServer[] = [];
  if (o.relay !== false) {
    server = new RelayServer({ authorize: (k) => isActive(keyToBase64(k)), logger: log });
    server.attach(httpServer);
    const url = o.relayUrl ?? `${apiUrl.replace(/^http/, 'ws')}/relay`;
    const stunPorts: number[] = [];
    if (o.stunPort) {
      for (const port of [o.stunPort, o.stunPort + 1]) {
        const s = new StunServer({ host: listenHost, port, logger: log });
        try {
          stunPorts.push(await s.start());
          stun.push(s);
        } catch (err) {
          log.warn({ port, err: (err as Error).message }, 'embedded STUN could not listen');
        }
      }
    }
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    const hostIsIp = ipaddr.isValid(host);
    const fmt = (p: number) => (host.includes(':') ? `[${host}]:${p}` : `${host}:${p}`);
    const advertised = o.stunAdvertise ?? (hostIsIp ? stunPorts.map(fmt) : []);
    relays.push({ id: o.relayId ?? 'default', url, stun: advertised });
    log.info({ relay: url, stun: advertised }, 'embedded relay and STUN');
  }
  relays.push(...(o.extraRelays ?? []));
  return {
    relays,
    server,
    stun,
    async stop() {
      await Promise.all(stun.map((s) => s.stop().catch(() => {})));
      await server?.stop();
    },
  };
}
