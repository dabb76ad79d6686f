import { PacketBatch, TRANSPORT_HEADROOM } from '../io/batch.js';
import { tunSlotSize } from '../io/tun-linux.js';
import type { TunDevice, TunEvents } from '../io/tun.js';
import type { InterfaceConfig, OsConfigurator } from '../agent/os-config.js';
import { NetstackError } from './errors.js';
import { NO_TIMEOUT, type LwipAddon } from './lwip.js';
import { loadStack } from './select.js';

// The userspace network stack as the engine's TUN device: packets the engine decrypts
// go into lwIP (write), packets lwIP sends come back to the engine (onPackets). Sockets
// (tcp-socket.ts, tcp-server.ts, udp-socket.ts) register a handler per lwIP id here.
//
// Everything runs on the JS thread: every call into lwIP is followed by a flush (one
// microtask later, so a burst of calls is flushed once) that dispatches lwIP's queued
// events and hands its queued packets to the engine. lwIP's timers (retransmission,
// delayed ACK, keepalive, TIME_WAIT, reassembly) run from one unref'd timeout armed for
// the next one lwIP has (checkTimeouts), not from a poll: an idle stack sleeps until
// lwIP's next housekeeping tick (1 s), a stack with TCP connections until its TCP timer
// (250 ms, lwIP's TCP_TMR_INTERVAL). Every flush asks again, since any input or socket
// call may have started an earlier timer (tcp_timer_needed).

/** Bounds on one sleep: the floor keeps a wrong answer from spinning, the cap from sleeping
 * through lwIP's timers (its housekeeping ones run every second anyway). */
const MIN_SLEEP_MS = 1;
const MAX_SLEEP_MS = 1000;
const BATCH = 64;
/** Flush rounds per microtask: events can produce packets that produce events. */
const MAX_ROUNDS = 64;

export interface SocketHandler {
  onEvent(type: number, num: number, data: Buffer | null, addr: string, port: number): void;
  /** The stack is stopping: release the lwIP id (abort) and fail the socket. */
  onStop(): void;
}

export interface NetStackOptions {
  mtu?: number;
  addon?: LwipAddon;
}

export class NetStack implements TunDevice {
  readonly name = 'userspace';
  readonly headroom = TRANSPORT_HEADROOM;
  readonly mtu: number;
  readonly lwip: LwipAddon;
  /** The node's mesh addresses once the agent set them (up()). */
  ipv4: string | undefined;
  ipv6: string | undefined;

  private events: TunEvents | undefined;
  private readonly handlers = new Map<number, SocketHandler>();
  private readonly batch: PacketBatch;
  private timer: NodeJS.Timeout | undefined;
  /** performance.now() at which the armed timer fires. */
  private wakeAt = 0;
  private sleep: number | undefined;
  private readonly wake = (): void => {
    this.timer = undefined;
    this.flush();
  };
  private abs = new Uint32Array(BATCH);
  private scheduled = false;
  private stopped = false;
  private readonly dispatch = (type: number, id: number, num: number, data: Buffer | null, addr: string, port: number): void => {
    try {
      this.handlers.get(id)?.onEvent(type, num, data, addr, port);
    } catch {
      // A socket handler's bug must not stop the events of other sockets.
    }
  };

  private readonly global: boolean;
  /** The addon's lwIP is process-global: one running addon stack at a time. */
  private static running = false;

  constructor(opts: NetStackOptions = {}) {
    this.mtu = opts.mtu ?? 1420;
    this.lwip = opts.addon ?? loadStack();
    // The addon's lwIP is process-global; each wasm stack is its own instance.
    this.global = this.lwip.kind !== 'wasm';
    if (this.global && NetStack.running) throw new NetstackError('ERR_NETSTACK_IN_USE', 'a userspace stack is already running in this process (lwIP is global)');
    if (this.global) NetStack.running = true;
    this.lwip.init(this.mtu);
    this.batch = new PacketBatch(BATCH, tunSlotSize(this.mtu, this.headroom));
    this.arm(this.lwip.checkTimeouts());
  }

  /** ms the armed timer was set to sleep (undefined once stopped): tests and benchmarks. */
  get sleepMs(): number | undefined {
    return this.sleep;
  }

  /** Which lwIP build runs this stack (select.ts). */
  get kind(): 'addon' | 'wasm' {
    return this.lwip.kind ?? 'addon';
  }

  /** The OsConfigurator the agent uses in userspace mode: addresses go to lwIP, routes nowhere. */
  get osConfig(): OsConfigurator {
    return {
      up: async (cfg: InterfaceConfig) => this.setAddresses(cfg.ipv4, cfg.ipv6),
      down: async () => {},
    };
  }

  setAddresses(ipv4: string, ipv6: string): void {
    this.lwip.setAddresses(ipv4, ipv6);
    this.ipv4 = ipv4;
    this.ipv6 = ipv6;
  }

  register(id: number, h: SocketHandler): void {
    this.checkRunning();
    this.handlers.set(id, h);
  }

  unregister(id: number): void {
    this.handlers.delete(id);
  }

  checkRunning(): void {
    if (this.stopped) throw new NetstackError('ERR_NETSTACK_STOPPED', 'the userspace stack is stopped');
  }

  /** Schedules a flush after the current synchronous work (call after any lwIP call). */
  kick(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  // --- TunDevice (the engine's side) ---------------------------------------------------

  start(events: TunEvents): void {
    this.events = events;
    this.kick();
  }

  write(batch: PacketBatch): number {
    if (this.stopped) return 0;
    // The batch holds slot-relative offsets; lwIP wants absolute ones.
    if (this.abs.length < batch.count) this.abs = new Uint32Array(batch.count);
    let n = 0;
    for (let i = 0; i < batch.count; i++) {
      this.abs[i] = batch.start(i);
      if (batch.lengths[i]) n++;
    }
    this.lwip.input(batch.data, this.abs, batch.lengths, batch.count);
    this.kick();
    return n;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.global) NetStack.running = false;
    clearTimeout(this.timer);
    this.timer = this.sleep = undefined;
    const open = [...this.handlers.values()];
    this.handlers.clear();
    for (const h of open) h.onStop();
  }

  private flush(): void {
    if (this.stopped) return;
    const next = this.lwip.checkTimeouts();
    for (let round = 0; round < MAX_ROUNDS && this.lwip.pending() > 0; round++) {
      this.lwip.drain(this.dispatch);
      this.deliver();
    }
    // Handlers' lwIP calls kick() a flush of their own, which asks lwIP again.
    this.arm(this.lwip.pending() > 0 ? 0 : next);
  }

  /** Arms the timer for lwIP's next timeout in `ms`, unless the armed one fires first. */
  private arm(ms: number): void {
    // +1: sys_now counts whole ms and Node's timer clock may lag; waking a hair early
    // would only mean waking again.
    const delay = ms === NO_TIMEOUT ? MAX_SLEEP_MS : Math.min(MAX_SLEEP_MS, Math.max(MIN_SLEEP_MS, ms + 1));
    const at = performance.now() + delay;
    // An earlier armed timer re-evaluates when it fires.
    if (this.timer && this.wakeAt <= at) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(this.wake, delay).unref();
    this.wakeAt = at;
    this.sleep = delay;
  }

  /** Hands lwIP's output packets to the engine (dropped while no engine is attached). */
  private deliver(): void {
    const b = this.batch;
    for (;;) {
      b.count = this.lwip.readPackets(b.data, b.slotSize, this.headroom, b.capacity, b.lengths, b.offsets);
      if (b.count === 0) return;
      try {
        this.events?.onPackets(b);
      } catch {
        // The engine's handler must not throw; if it does, the packets are lost like on a wire.
      }
      b.reset();
    }
  }
}
