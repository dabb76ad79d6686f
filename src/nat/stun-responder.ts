import type { Bind } from '../io/bind.js';
import type { Endpoint } from '../io/endpoint.js';
import { stunSendOverBind } from './stun-client.js';
import { answerStun } from './stun-server.js';

// STUN answered on a socket that is also a STUN client (MagicBind's shared socket on a
// serverless relay member): requests are answered here, responses (class success/error)
// are left to the client. The answer is the request's size plus the mapped address, so
// it does not amplify.

export interface StunResponderStats {
  answered: number;
  malformed: number;
  sendErrors: number;
}

/** The responder for MagicBind.stunResponder: true when `pkt` was a request (answered or malformed). */
export function stunResponder(bind: Bind, stats: StunResponderStats = { answered: 0, malformed: 0, sendErrors: 0 }): (pkt: Uint8Array, from: Endpoint) => boolean {
  const send = stunSendOverBind(bind);
  return (pkt, from) => {
    const a = answerStun(pkt, from);
    if (a.kind === 'ignored') return false;
    if (a.kind === 'malformed') stats.malformed++;
    else {
      try {
        send(a.bytes, from);
        stats.answered++;
      } catch {
        stats.sendErrors++;
      }
    }
    return true;
  };
}
