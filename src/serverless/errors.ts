import { WeftError } from '../errors.js';

// Serverless error codes (stable: the CLI and tests match on them).
export type ServerlessErrorCode =
  | 'ERR_NAME_TAKEN' // authorize: another key already has this name
  | 'ERR_ALREADY_AUTHORIZED' // authorize: the key is in the trust set under another name
  | 'ERR_NOT_AUTHORIZED' // deauthorize/revoke: the key is not in the trust set
  | 'ERR_INVALID_NAME'
  | 'ERR_ADMIN_NOT_AUTHORIZED' // revoke: our admin key is not marked admin in the trust set
  | 'ERR_TRUST_STORE_CORRUPT'
  | 'ERR_SELF_NOT_AUTHORIZED' // weft up --serverless: our own node key is not in authorized_keys
  | 'ERR_SELF_REVOKED'; // weft up --serverless: our own node key has been revoked

export class ServerlessError extends WeftError {
  constructor(code: ServerlessErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ServerlessError';
  }
}
