import { WeftError } from '../errors.js';

// Agent error codes (stable: the CLI and tests match on them).
export type AgentErrorCode =
  | 'ERR_NEEDS_LOGIN' // no saved identity and no --server/--auth-key to register with
  | 'ERR_STATE_CORRUPT'
  | 'ERR_SERVER' // the coordinator answered with an error
  | 'ERR_SERVER_UNREACHABLE'
  | 'ERR_INSECURE_SERVER_URL' // plain http:// to a non-loopback coordinator without --insecure-http
  | 'ERR_SERVER_UNAUTHENTICATED' // an answer or stream frame without a valid MAC under the pinned key
  | 'ERR_SERVER_KEY_CHANGED' // the coordinator presents another key than the one pinned at registration
  | 'ERR_PEER_NOT_FOUND'
  | 'ERR_PING_TIMEOUT'
  | 'ERR_NO_ROUTE'
  | 'ERR_OS_CONFIG'
  | 'ERR_NEEDS_ROOT' // no CAP_NET_ADMIN for the TUN device, addresses and routes
  | 'ERR_NO_TUN' // no /dev/net/tun
  | 'ERR_AGENT_NOT_RUNNING'
  | 'ERR_ALREADY_RUNNING'
  | 'ERR_STOPPED'
  | 'ERR_NO_SHARED_SOCKET' // serverless mode needs the NAT traversal socket for its gossip
  | 'ERR_NO_COORDINATOR'; // `weft down --logout` in serverless mode: there is nobody to log out of

export class AgentError extends WeftError {
  constructor(
    code: AgentErrorCode,
    message: string,
    options?: { cause?: unknown; status?: number },
  ) {
    super(code, message, options);
    this.name = 'AgentError';
    this.status = options?.status;
  }
  /** HTTP status when the error came from the coordinator. */
  readonly status: number | undefined;
}
