import { keyToBase64, type PublicKey } from '../crypto/keys.js';
import type { Logger } from '../log.js';
import type { MagicBind } from '../nat/magicsock.js';
import { RelayServer } from '../relay/server.js';
import { stunResponder, type StunResponderStats } from '../nat/stun-responder.js';
import { keyId, type TrustSet } from './trust.js';

// A member that volunteers (`weft up --serverless --relay`) relays for the others: the
// ordinary relay server (src/relay/server.ts) on TCP at the port number of our UDP
// socket, and STUN answered on that UDP socket. Admission is the trust set: after the
// relay's key proof (the same cost before authentication as any relay: one X25519),
// one map lookup; revoked or deauthorized keys are refused, and their connections are
// closed when the trust set changes. The relay has its own key (a relay key is not a
// node key: clients learn it from ServerHello), so no node key signs anything here.

export interface MemberRelayOptions {
  trust: TrustSet;
  magic: MagicBind;
  /** Our UDP port: the relay listens on TCP at the same number. */
  port: number;
  /** Listen address (default '::', dual-stack on Linux). */
  host?: string;
  logger: Logger;
}

export class MemberRelay {
  readonly stunStats: StunResponderStats = { answered: 0, malformed: 0, sendErrors: 0 };
  private readonly server: RelayServer;

  constructor(private readonly o: MemberRelayOptions) {
    this.server = new RelayServer({ authorize: (k: PublicKey) => o.trust.isMember(keyId(k)), logger: o.logger });
  }

  get stats(): RelayServer['stats'] {
    return this.server.stats;
  }

  async start(): Promise<void> {
    await this.server.listen(this.o.host ?? '::', this.o.port);
    this.o.magic.stunResponder = stunResponder(this.o.magic.socket, this.stunStats);
    this.o.logger.info({ port: this.o.port }, 'relaying for the members (TCP) and answering STUN (UDP)');
  }

  /** The trust set changed (reload, revocation): close the connections it no longer admits. */
  recheck(): void {
    for (const k of this.server.connectedKeys()) {
      if (!this.o.trust.isMember(keyId(k))) {
        this.o.logger.info({ key: keyToBase64(k).slice(0, 8) }, 'relay: member no longer trusted');
        this.server.revoke(k);
      }
    }
  }

  async stop(): Promise<void> {
    this.o.magic.stunResponder = null;
    await this.server.stop();
  }
}
