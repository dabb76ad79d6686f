import { WeftError } from '../errors.js';

// Userspace stack error codes (stable: the CLI, proxies and tests match on them). Socket
// errors use Node's errno names (ECONNRESET...) so code written for net.Socket keeps working.
export type NetstackErrorCode =
  | 'ERR_NETSTACK_UNAVAILABLE' // neither the weft_lwip addon nor the wasm build loads
  | 'ERR_NETSTACK_IN_USE' // lwIP is global: one stack per process
  | 'ERR_NETSTACK_STOPPED'
  | 'ERR_UNKNOWN_HOST' // not an IP and not a mesh name
  | 'ECONNREFUSED'
  | 'ECONNRESET'
  | 'ECONNABORTED'
  | 'ETIMEDOUT'
  | 'EPIPE'
  | 'EADDRINUSE';

export class NetstackError extends WeftError {
  constructor(code: NetstackErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'NetstackError';
  }
}
