import { counterFrom, gaugeFrom, Histogram, Registry } from '../metrics/index.js';
import { registerRelayMetrics } from '../relay/metrics.js';
import type { RelayServer } from '../relay/server.js';
import type { Registry as NodeRegistry } from './registry.js';
import type { Store } from './store/index.js';
import type { StreamHub } from './stream.js';

// The coordinator's /metrics: node counts and stream count read at scrape time; three
// latency histograms fed by the code they time (control plane only, never per packet).

export type StartTimer = () => () => void;

export class CoordinatorMetrics {
  readonly registry = new Registry();
  readonly dbQuery = new Histogram({
    name: 'weft_coordinator_db_query_seconds',
    help: 'Time of each store operation (one query or transaction), by operation.',
    labelNames: ['op'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  private readonly fanout = new Histogram({
    name: 'weft_coordinator_delta_fanout_seconds',
    help: 'Time to compute and queue one netmap change to every connected stream.',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  private readonly compile = new Histogram({
    name: 'weft_coordinator_policy_compile_seconds',
    help: 'Time to compile the access policy against the node set.',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly fanoutTimer: StartTimer = () => this.fanout.startTimer();
  readonly compileTimer: StartTimer = () => this.compile.startTimer();

  /** The live sources, once the coordinator has built them. */
  watch(nodes: NodeRegistry, hub: StreamHub, relay: () => RelayServer | null): void {
    const reg = this.registry;
    gaugeFrom(reg, { name: 'weft_coordinator_nodes', help: 'Registered nodes.' }, (emit) => emit(nodes.size));
    gaugeFrom(reg, { name: 'weft_coordinator_nodes_online', help: 'Registered nodes that are online (a live map stream or a recent check-in).' }, (emit) => {
      let n = 0;
      for (const x of nodes.nodes()) if (nodes.isOnline(x)) n++;
      emit(n);
    });
    counterFrom(reg, { name: 'weft_coordinator_registrations_total', help: 'New nodes registered by this instance.' }, (emit) => emit(nodes.stats.registrations));
    gaugeFrom(reg, { name: 'weft_coordinator_map_streams', help: 'Open netmap streams on this instance.' }, (emit) => emit(hub.streamCount));
    counterFrom(reg, { name: 'weft_coordinator_stream_bad_messages_total', help: 'Malformed map-stream messages from nodes, dropped.' }, (emit) => emit(hub.stats.decode.malformed));
    counterFrom(reg, { name: 'weft_coordinator_map_stream_resumes_total', help: 'Map streams that resumed with only the changes they missed instead of a full netmap (protocol v8).' }, (emit) => emit(hub.stats.resumed));
    counterFrom(reg, { name: 'weft_coordinator_map_deltas_folded_total', help: 'Deltas folded into another one for the same map stream within an event-loop turn (one frame, applied once).' }, (emit) => emit(hub.stats.folded));
    registerRelayMetrics(reg, relay);
  }
}

/** Wraps every Store method so each call is timed into `h` (label `op` = method name). */
export function instrumentStore(store: Store, h: Histogram<'op'>): Store {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || prop === 'subscribe' || prop === 'constructor') return v;
      let w = wrapped.get(prop);
      if (!w) {
        const op = String(prop);
        w = async (...args: unknown[]) => {
          const end = h.startTimer({ op });
          try {
            return await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          } finally {
            end();
          }
        };
        wrapped.set(prop, w);
      }
      return w;
    },
  });
}
