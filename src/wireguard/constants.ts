// Protocol constants with the whitepaper's names (WireGuard paper §6.1; wireguard-go
// device/constants.go). Times are milliseconds.
export const REKEY_AFTER_MESSAGES = 1n << 60n;
export const REJECT_AFTER_MESSAGES = (1n << 64n) - (1n << 13n) - 1n;
export const REKEY_AFTER_TIME = 120_000;
export const REKEY_ATTEMPT_TIME = 90_000;
export const REKEY_TIMEOUT = 5_000;
export const MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME / REKEY_TIMEOUT; // 18
export const REKEY_TIMEOUT_JITTER_MAX = 334;
export const REJECT_AFTER_TIME = 180_000;
export const KEEPALIVE_TIMEOUT = 10_000;
export const COOKIE_REFRESH_TIME = 120_000;
export const HANDSHAKE_INITIATION_RATE = 20; // at most one consumed initiation per 20 ms per peer
export const UNDER_LOAD_AFTER_TIME = 1_000;
export const MAX_PEERS = 1 << 16;

// Derived timer deadlines (wireguard-go timers.go, kernel timers.c).
export const NEW_HANDSHAKE_TIMEOUT = KEEPALIVE_TIMEOUT + REKEY_TIMEOUT; // 15 s
export const ZERO_KEY_MATERIAL_TIMEOUT = REJECT_AFTER_TIME * 3; // 540 s
export const REKEY_ON_RECEIVE_AGE = REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT; // 165 s

export const MESSAGE_PADDING_MULTIPLE = 16;
export const DEFAULT_MTU = 1420;
export const QUEUE_STAGED_SIZE = 128;
export const HANDSHAKE_QUEUE_SIZE = 1024;
// wg-go is under load when its handshake queue is 1/8 full; Weft's queue is the burst
// of handshake messages delivered in one event-loop turn (see load.ts).
export const UNDER_LOAD_QUEUE_LEN = HANDSHAKE_QUEUE_SIZE / 8;

// Ratelimiter: 20 handshakes/s per source address, burst 5.
export const RATELIMIT_PACKETS_PER_SECOND = 20;
export const RATELIMIT_BURST = 5;
