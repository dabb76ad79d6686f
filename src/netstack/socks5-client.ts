import { connect, type Socket } from 'node:net';
import { NetstackError } from './errors.js';
import { REP_CONNECTION_REFUSED, REP_HOST_UNREACHABLE, REP_SUCCEEDED, REP_TTL_EXPIRED, SOCKS_VERSION } from './socks5.js';

// The client half of SOCKS5 CONNECT (domain form), for `weft nc` and `weft curl`
// talking to the agent's proxy on its state-dir socket.

const TIMEOUT_MS = 20_000;

/** Connects through the SOCKS5 proxy at `path` (unix socket) to host:port. */
export function socksConnect(path: string, host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const name = Buffer.from(host, 'latin1');
    if (name.length === 0 || name.length > 255) return reject(new NetstackError('ERR_UNKNOWN_HOST', `bad host ${JSON.stringify(host)}`));
    const s = connect(path);
    let buf = Buffer.alloc(0);
    let stage = 0;
    const fail = (err: Error): void => {
      s.destroy();
      reject(err);
    };
    s.setTimeout(TIMEOUT_MS, () => fail(new NetstackError('ETIMEDOUT', `connecting to ${host}:${port} timed out`)));
    s.on('error', fail);
    s.on('connect', () => s.write(Buffer.from([SOCKS_VERSION, 1, 0])));
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      if (stage === 0 && buf.length >= 2) {
        if (buf[0] !== SOCKS_VERSION || buf[1] !== 0) return fail(new Error('the proxy refused the SOCKS5 greeting'));
        buf = buf.subarray(2);
        stage = 1;
        const req = Buffer.concat([Buffer.from([SOCKS_VERSION, 1, 0, 3, name.length]), name, Buffer.from([port >> 8, port & 0xff])]);
        s.write(req);
      }
      if (stage === 1 && buf.length >= 10) {
        const rep = buf[1];
        if (rep !== REP_SUCCEEDED) return fail(replyError(rep, host, port));
        s.off('data', onData);
        s.off('error', fail);
        s.setTimeout(0);
        const rest = buf.subarray(10);
        if (rest.length) s.unshift(rest);
        resolve(s);
      }
    };
    s.on('data', onData);
  });
}

function replyError(rep: number, host: string, port: number): NetstackError {
  const where = `${host}:${port}`;
  if (rep === REP_CONNECTION_REFUSED) return new NetstackError('ECONNREFUSED', `${where}: connection refused`);
  if (rep === REP_HOST_UNREACHABLE) return new NetstackError('ERR_UNKNOWN_HOST', `${host} is not a mesh peer or an IP address`);
  if (rep === REP_TTL_EXPIRED) return new NetstackError('ETIMEDOUT', `${where}: timed out`);
  return new NetstackError('ECONNABORTED', `${where}: proxy error ${rep}`);
}
