import type { NetMap } from '../wire/control.js';
import type { NetmapDelta, NetmapSink, NetmapSource, NetmapUpdate } from './netmap-source.js';

// The in-memory NetmapSource: a test (or an in-process lab) pushes netmaps and deltas
// and reads back what the agent reported. Updates pushed before start() are delivered
// when it starts, as a stream would after connecting.

export class MemoryNetmapSource implements NetmapSource {
  private sink: NetmapSink | null = null;
  private pending: NetmapUpdate[] = [];
  connected = false;
  /** Every report, newest last. */
  readonly endpointReports: string[][] = [];
  readonly routeReports: string[][] = [];

  start(sink: NetmapSink): void {
    this.sink = sink;
    this.setConnected(true);
    for (const u of this.pending.splice(0)) sink.onUpdate(u);
  }

  async stop(): Promise<void> {
    this.setConnected(false);
    this.sink = null;
  }

  pushFull(netmap: NetMap): void {
    this.push({ type: 'full', netmap });
  }

  pushDelta(delta: Omit<NetmapDelta, 'type'>): void {
    this.push({ type: 'delta', ...delta });
  }

  pushError(code: string, message: string): void {
    this.sink?.onError(code, message);
  }

  setConnected(c: boolean): void {
    if (this.connected === c) return;
    this.connected = c;
    this.sink?.onConnectedChange(c);
  }

  reportEndpoints(endpoints: readonly string[]): boolean {
    if (!this.connected) return false;
    this.endpointReports.push([...endpoints]);
    return true;
  }

  reportRoutes(routes: readonly string[]): boolean {
    if (!this.connected) return false;
    this.routeReports.push([...routes]);
    return true;
  }

  private push(u: NetmapUpdate): void {
    if (this.sink) this.sink.onUpdate(u);
    else this.pending.push(u);
  }
}
