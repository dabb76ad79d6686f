import type { Command } from 'commander';
import { request } from 'node:http';
import { DEFAULT_STATE_DIR, socksSocketPath } from '../agent/state.js';
import { InvalidArgumentError } from '../errors.js';
import { socksConnect } from '../netstack/socks5-client.js';
import { parseIntArg } from './node-args.js';
import { envOptions } from './options.js';

// `weft nc` and `weft curl`: reach mesh peers by name through a running
// `weft up --tun=userspace` agent (its SOCKS5 socket in the state dir), no root needed.

const stateDir = ['--state-dir <dir>', 'state directory of the running userspace agent', DEFAULT_STATE_DIR] as const;

export function registerUserspaceCommands(program: Command): void {
  envOptions(
    program
      .command('nc')
      .description('connect stdin/stdout to PEER:PORT over the mesh (needs a `weft up --tun=userspace` agent)')
      .argument('<peer>', 'peer name, fqdn or mesh address')
      .argument('<port>', 'TCP port')
      .option(...stateDir),
    ['--state-dir'],
  ).action(async (peer: string, portS: string, o: { stateDir: string }) => {
    const s = await socksConnect(socksSocketPath(o.stateDir), peer, parseIntArg('PORT', portS, 1, 65535));
    process.stdin.pipe(s);
    s.pipe(process.stdout);
    await new Promise<void>((resolve, reject) => {
      s.on('error', reject);
      s.on('close', () => resolve());
    });
    process.stdin.unref?.();
  });

  envOptions(
    program
      .command('curl')
      .description('HTTP GET a URL on a mesh peer and print the body (needs a `weft up --tun=userspace` agent)')
      .argument('<url>', 'http://PEER[:PORT]/PATH')
      .option('-i, --include', 'print the status line and headers too')
      .option(...stateDir),
    ['--state-dir'],
  ).action(async (url: string, o: { stateDir: string; include?: boolean }) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new InvalidArgumentError(`not a URL: ${JSON.stringify(url)}`);
    }
    if (u.protocol !== 'http:') throw new InvalidArgumentError(`weft curl speaks http:// (the mesh encrypts), got ${u.protocol}`);
    const s = await socksConnect(socksSocketPath(o.stateDir), u.hostname.replace(/^\[(.*)\]$/, '$1'), Number(u.port || 80));
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ createConnection: () => s as never, host: u.host, path: u.pathname + u.search, headers: { host: u.host, 'user-agent': 'weft-curl' } }, (res) => {
        if (o.include) {
          process.stdout.write(`HTTP/${res.httpVersion} ${res.statusCode} ${res.statusMessage}\r\n`);
          for (let i = 0; i < res.rawHeaders.length; i += 2) process.stdout.write(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`);
          process.stdout.write('\r\n');
        }
        res.pipe(process.stdout, { end: false });
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    s.destroy();
    if (status >= 400) process.exitCode = 22; // like curl --fail
  });
}
