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

export type DnsRecordErrorCode = 'ERR_DNS_RECORD_NAME' | 'ERR_DNS_RECORD_TYPE' | 'ERR_DNS_RECORD_VALUE' | 'ERR_DNS_RECORD_CONFLICT' | 'ERR_DNS_SRV_TARGET' | 'ERR_DNS_TOO_MANY_RECORDS';

/** A MagicDNS record (records.ts) that is malformed or clashes; `field` names the request field. */
export class DnsRecordError extends WeftError {
  override readonly code: DnsRecordErrorCode;
  constructor(code: DnsRecordErrorCode, message: string, readonly field: 'name' | 'type' | 'value' | 'records') {
    super(code, message);
    this.name = 'DnsRecordError';
    this.code = code;
  }
}
