import type { FastifyInstance } from 'fastify';
import { MAX_RELAY_CHECK_KEYS, RELAY_CHECK_PATH, type RelayCheckRequest, type RelayCheckResponse } from '../wire/relay-check.js';
import { unauthorized } from './errors.js';
import type { Registry } from './registry.js';
import { hashSecret, secretMatches } from './secrets.js';

// The coordinator's answer to standalone relays (`weft relay --coordinator`): which of
// these keys are registered, unexpired nodes. Relays authenticate with the shared relay
// secret (`--relay-secret-file` / WEFT_RELAY_SECRET on both sides); without one
// configured the route is not served. Answers come from the registry's memory: no
// database read, whoever asks.

const checkSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['keys'],
  properties: { keys: { type: 'array', minItems: 1, maxItems: MAX_RELAY_CHECK_KEYS, items: { type: 'string', pattern: '^[A-Za-z0-9+/]{43}=$' } } },
} as const;

export function relayCheckRoutes(root: FastifyInstance, registry: Registry, secret: string): void {
  const stored = hashSecret(secret);
  root.register(async (app) => {
    app.addHook('onRequest', async (req) => {
      const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
      if (!m || !secretMatches(m[1], stored)) throw unauthorized('ERR_RELAY_SECRET_INVALID', 'relay check needs Authorization: Bearer <relay secret>', 'authorization');
    });
    app.post(RELAY_CHECK_PATH, { schema: { querystring: { type: 'object', additionalProperties: false, properties: {} }, body: checkSchema } }, async (req): Promise<RelayCheckResponse> => ({
      active: (req.body as RelayCheckRequest).keys.filter((k) => registry.isActiveKey(k)),
    }));
  });
}
