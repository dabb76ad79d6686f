import { WeftError } from '../errors.js';

// Typed errors of the onion layer; callers and tests match on `code`.
export type OnionErrorCode =
  | 'ERR_ONION_HANDSHAKE' // a CREATE/EXTEND handshake failed or timed out
  | 'ERR_ONION_DESTROYED' // the circuit was torn down (tag, replay, DESTROY, link loss)
  | 'ERR_ONION_PATH' // not enough eligible relays for the requested path
  | 'ERR_ONION_EXIT_POLICY' // the exit refused the destination
  | 'ERR_ONION_STREAM' // a stream could not be opened or was reset
  | 'ERR_ONION_TOO_LARGE'; // a message does not fit a cell at this depth

export class OnionError extends WeftError {
  constructor(code: OnionErrorCode, message: string) {
    super(code, message);
    this.name = 'OnionError';
  }
}
