import type { RelayInfo } from '../wire/control.js';
import { hostRoutes } from './routing.js';

// With an exit node, the connections the agent itself makes must not enter the tunnel
// they carry: the coordinator's and the relays' addresses keep the main routing table.
// (Relay connections are TCP from this process, not the engine's marked UDP.)

export class RouteBypass {
  private coordinator: string[] = [];
  private relays: string[] = [];
  private relayHosts = '';

  async setCoordinator(url: string): Promise<void> {
    this.coordinator = await hostRoutes([url]);
  }

  /** Resolves the relays' hosts; `onChange` runs once their routes are known and differ. */
  setRelays(relays: readonly RelayInfo[], onChange: () => void): void {
    const urls = [...new Set(relays.map((r) => r.url))].sort();
    const key = urls.join(' ');
    if (key === this.relayHosts) return;
    this.relayHosts = key;
    void hostRoutes(urls).then((routes) => {
      if (this.relayHosts !== key) return; // a newer relay map won
      this.relays = routes;
      onChange();
    });
  }

  routes(): string[] {
    return [...new Set([...this.coordinator, ...this.relays])];
  }
}
