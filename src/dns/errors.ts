import { WeftError } from '../errors.js';

export type DnsErrorCode = 'ERR_DNS_UPSTREAM_TIMEOUT' | 'ERR_DNS_UPSTREAM_BAD_RESPONSE' | 'ERR_DNS_BAD_SERVER' | 'ERR_DNS_OS_CONFIG';

export class DnsError extends WeftError {
  override readonly code: DnsErrorCode;
  constructor(code: DnsErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'DnsError';
    this.code = code;
  }
}
