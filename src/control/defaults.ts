// The coordinator's defaults, apart from its code: the CLI needs them to describe its
// options, and importing the server for them would load fastify, the stores and ACME on
// every `weft` command.

export const DEFAULT_LISTEN = '127.0.0.1:8080';
export const DEFAULT_STATE_DIR = '/var/lib/weft-server';
export const DEFAULT_DOMAIN = 'weft.internal';
export const DEFAULT_EPHEMERAL_TIMEOUT_MS = 10 * 60_000;
export const ADMIN_SOCKET_NAME = 'admin.sock';
export const LETS_ENCRYPT_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';
