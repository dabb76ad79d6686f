import { WeftError } from '../errors.js';

// Every policy rejection names the line and column (1-based) of the offending text, so
// `weft policy set` and the admin API can point the admin at it.
export type PolicyErrorCode =
  | 'ERR_POLICY_SYNTAX'
  | 'ERR_POLICY_SCHEMA'
  | 'ERR_POLICY_UNKNOWN_GROUP'
  | 'ERR_POLICY_UNKNOWN_TAG'
  | 'ERR_POLICY_UNKNOWN_NODE'
  | 'ERR_POLICY_BAD_SELECTOR'
  | 'ERR_POLICY_BAD_CIDR'
  | 'ERR_POLICY_BAD_PORTS'
  | 'ERR_POLICY_BAD_PROTO'
  | 'ERR_POLICY_BAD_ACTION'
  | 'ERR_POLICY_BAD_DNS_RECORD'
  | 'ERR_POLICY_TEST_FAILED';

export class PolicyError extends WeftError {
  override readonly code: PolicyErrorCode;
  constructor(
    code: PolicyErrorCode,
    readonly line: number,
    readonly column: number,
    readonly reason: string,
  ) {
    super(code, `line ${line}:${column}: ${reason}`);
    this.name = 'PolicyError';
    this.code = code;
  }

  /** The admin API's error body for a rejected policy (see docs/POLICY.md). */
  toJSON(): { code: string; message: string; line: number; column: number } {
    return { code: this.code, message: this.reason, line: this.line, column: this.column };
  }
}
