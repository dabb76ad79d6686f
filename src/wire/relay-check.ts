// Relay admission check between a standalone relay (`weft relay --coordinator`,
// src/relay/admission.ts) and the coordinator (src/control/relay-check.ts):
//
//   POST /api/v1/relay/check   Authorization: Bearer <relay secret>
//   { "keys": ["<base64 key>", ...] }   (1..1024 keys)  ->  { "active": [<the registered, unexpired ones>] }
//
// Agents do not use it, so it carries no control protocol version.

export const RELAY_CHECK_PATH = '/api/v1/relay/check';
export const MAX_RELAY_CHECK_KEYS = 1024;

export interface RelayCheckRequest {
  keys: string[];
}

export interface RelayCheckResponse {
  active: string[];
}
