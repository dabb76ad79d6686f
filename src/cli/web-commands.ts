import type { Command } from 'commander';
import ipaddr from 'ipaddr.js';
import { DEFAULT_STATE_DIR, socketPath } from '../agent/state.js';
import { parseListen } from '../listen.js';
import { DEFAULT_WEB_LISTEN, WebUi } from '../web/server.js';
import { callAgent } from '../agent/local-client.js';
import { envOptions } from './options.js';

// `weft web`: serves this device's page (src/web/server.ts) until Ctrl-C. The URL it
// prints carries the per-start token; nothing else reveals it.

export function registerWebCommand(program: Command): void {
  envOptions(
    program
      .command('web')
      .description("serve a page for this device (status, peers, exit node, disconnect) on loopback")
      .option('--listen <host:port>', 'where to serve the page (port 0 picks a free one)', DEFAULT_WEB_LISTEN)
      .option('--state-dir <dir>', 'agent state directory', DEFAULT_STATE_DIR),
    ['--state-dir'],
  ).action(async (o: { listen: string; stateDir: string }) => {
    const { host, port } = parseListen(o.listen);
    const socket = socketPath(o.stateDir);
    // Fails now (ERR_AGENT_NOT_RUNNING, or EACCES for a user who may not use the CLI) rather than in the page.
    await callAgent(socket, 'GET', '/v1/status');
    if (!(ipaddr.isValid(host) && ipaddr.process(host).range() === 'loopback') && host !== 'localhost') {
      process.stderr.write(`weft web: warning: ${host} is not a loopback address; the token travels in plain HTTP\n`);
    }
    const web = new WebUi({ socket, host, port });
    const url = await web.start();
    process.stdout.write(`weft web: open ${url}\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await web.stop();
  });
}
