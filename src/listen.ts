import type { AddressInfo, Server } from 'node:net';
import { WeftError } from './errors.js';

/** Starts `server` listening on host:port; a failure becomes WeftError `code` naming `what`. */
export async function listenOn(server: Server, host: string, port: number, code: string, what: string): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: Error) => {
    throw new WeftError(code, `${what} cannot listen on ${host}:${port}: ${err.message}`, { cause: err });
  });
  return server.address() as AddressInfo;
}
