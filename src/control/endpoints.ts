import ipaddr from 'ipaddr.js';
import { WIREGUARD_ONLY_ENDPOINT, WIREGUARD_PORT_PREFIX, wireguardPortOf } from '../wire/control.js';
import { badRequest } from './errors.js';

export const MAX_ENDPOINTS = 32;
export const RELAY_ENDPOINT = /^relay:[A-Za-z0-9._-]{1,64}$/;

/** Canonical `ip:port` / `[v6]:port`, or null when `s` is not one. */
export function canonicalEndpoint(s: string): string | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(s);
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  if (m[1] !== undefined) return ipaddr.IPv6.isValid(m[1]) ? `[${ipaddr.IPv6.parse(m[1]).toString()}]:${port}` : null;
  return ipaddr.IPv4.isValidFourPartDecimal(m[2]) ? `${m[2]}:${port}` : null;
}

/** Validates a client-supplied endpoint list; `field` names the list in errors. */
export function parseEndpoints(value: unknown, field = 'endpoints'): string[] {
  if (!Array.isArray(value)) throw badRequest('ERR_VALIDATION', `${field} must be an array`, field);
  if (value.length > MAX_ENDPOINTS) throw badRequest('ERR_VALIDATION', `${field} must have at most ${MAX_ENDPOINTS} items`, field);
  const out: string[] = [];
  value.forEach((v, i) => {
    // Protocol v3: one `relay:<id>` pseudo-endpoint names the node's home relay.
    if (typeof v === 'string' && RELAY_ENDPOINT.test(v)) {
      if (!out.some((e) => e.startsWith('relay:'))) out.push(v);
      return;
    }
    if (v === WIREGUARD_ONLY_ENDPOINT) {
      if (!out.includes(v)) out.push(v);
      return;
    }
    // One `wgport:<port>` (an external engine's WireGuard port beside its disco port).
    if (typeof v === 'string' && v.startsWith(WIREGUARD_PORT_PREFIX)) {
      if (wireguardPortOf([v]) === null) throw badRequest('ERR_INVALID_ENDPOINT', `${field}[${i}] is not wgport:<1-65535>`, `${field}[${i}]`);
      if (!out.some((e) => e.startsWith(WIREGUARD_PORT_PREFIX))) out.push(v);
      return;
    }
    const c = typeof v === 'string' ? canonicalEndpoint(v) : null;
    if (c === null) throw badRequest('ERR_INVALID_ENDPOINT', `${field}[${i}] is not an ip:port endpoint`, `${field}[${i}]`);
    if (!out.includes(c)) out.push(c);
  });
  return out;
}
