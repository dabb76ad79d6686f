import { createSocket, type Socket } from 'node:dgram';
import { systemClock, type Clock, type TimerHandle } from '../../clock.js';
import { PortMapError, type PortMapStats } from './types.js';

// One request/response exchange with the gateway's port 5351 (NAT-PMP and PCP): a fresh
// socket bound to our address on the gateway's link, the request retransmitted at 250 ms
// doubling (RFC 6886 3.1, RFC 6887 8.1.1) but only `tries` times, so a silent gateway
// costs under 2 s. Only datagrams from the gateway's address and port are parsed; what
// does not parse is dropped and counted. One exchange at a time.

export const INITIAL_RETRANSMIT_MS = 250;
export const DEFAULT_TRIES = 3;

export interface UdpExchangeOptions {
  gatewayIp: string;
  port: number;
  /** Source address (PCP requests carry it and the gateway compares). */
  localIp: string;
  stats: PortMapStats;
  clock?: Clock;
  tries?: number;
}

export class UdpExchange {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: UdpExchangeOptions) {}

  /** Sends `req` until `parse` accepts an answer (null = not ours: dropped and counted). */
  exchange<T>(req: Uint8Array, parse: (b: Uint8Array) => T | null): Promise<T> {
    const run = this.queue.then(() => this.once(req, parse));
    this.queue = run.catch(() => {});
    return run;
  }

  private once<T>(req: Uint8Array, parse: (b: Uint8Array) => T | null): Promise<T> {
    const clock = this.o.clock ?? systemClock;
    const tries = this.o.tries ?? DEFAULT_TRIES;
    return new Promise<T>((resolve, reject) => {
      const sock: Socket = createSocket('udp4');
      let sent = 0;
      let timer: TimerHandle | null = null;
      const finish = (err: Error | null, v?: T): void => {
        if (timer) clock.clearTimeout(timer);
        sock.close();
        if (err) reject(err);
        else resolve(v as T);
      };
      const send = (): void => {
        if (sent === tries) {
          this.o.stats.timeouts++;
          finish(new PortMapError('ERR_PORTMAP_TIMEOUT', `no answer from ${this.o.gatewayIp}:${this.o.port}`));
          return;
        }
        const wait = INITIAL_RETRANSMIT_MS * 2 ** sent++;
        sock.send(req, this.o.port, this.o.gatewayIp, () => {});
        timer = clock.setTimeout(send, wait);
      };
      sock.on('error', (err) => finish(new PortMapError('ERR_PORTMAP_TIMEOUT', err.message, { cause: err })));
      sock.on('message', (msg, rinfo) => {
        if (rinfo.address !== this.o.gatewayIp || rinfo.port !== this.o.port) {
          this.o.stats.foreign++;
          return;
        }
        const v = parse(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
        if (v === null) this.o.stats.malformed++;
        else finish(null, v);
      });
      sock.bind({ address: this.o.localIp, port: 0 }, send);
    });
  }
}
