// The real coordinator in-process for the agent integration tests (real clock): a random 127.0.0.1 port, a
// temporary state dir (SQLite file inside), restartable on the same port and database.
import { mkdirSync } from 'node:fs';
import { createAuthKey } from '../../src/control/auth-keys.js';
import { createCoordinator, type Coordinator } from '../../src/control/server.js';

export class RestartableCoordinator {
  private coord: Coordinator | null = null;
  private port = 0;
  url = '';
  authKey = '';

  constructor(private readonly stateDir: string) {}

  get running(): Coordinator {
    if (!this.coord) throw new Error('coordinator not running');
    return this.coord;
  }

  async start(): Promise<void> {
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    const c = createCoordinator({ stateDir: this.stateDir, listen: `127.0.0.1:${this.port}`, adminSocket: false, sweepIntervalMs: 200 });
    await c.start();
    this.coord = c;
    this.url = c.url;
    this.port = Number(new URL(c.url).port);
    if (!this.authKey) this.authKey = (await createAuthKey(c.store, { reusable: true, expirySeconds: 3600 }, Date.now())).key!;
  }

  async stop(): Promise<void> {
    await this.coord?.stop();
    this.coord = null;
  }
}
