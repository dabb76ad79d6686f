import { formatPrefix, parsePrefix } from '../net/prefix.js';
import { badRequest } from './errors.js';

// Advertised routes (subnet routers and exit nodes): validation and canonical form.

export const MAX_ROUTES = 64;
export const EXIT_ROUTES = ['0.0.0.0/0', '::/0'] as const;
/** How route listings name an exit node (both default routes). */
export const EXIT_ROW = 'exit';

/** Canonical CIDR (host bits cleared, IPv6 compressed), or null when `s` is not one. */
export function canonicalRoute(s: string): string | null {
  if (typeof s !== 'string' || !s.includes('/')) return null;
  try {
    return formatPrefix(parsePrefix(s));
  } catch {
    return null;
  }
}

/** Validates, canonicalizes, de-duplicates and sorts a route list (400 ERR_INVALID_ROUTE). */
export function parseRoutes(value: unknown, field = 'routes'): string[] {
  if (!Array.isArray(value)) throw badRequest('ERR_VALIDATION', `${field} must be an array`, field);
  if (value.length > MAX_ROUTES) throw badRequest('ERR_VALIDATION', `${field} holds more than ${MAX_ROUTES} routes`, field);
  const out = new Set<string>();
  value.forEach((v, i) => {
    const c = canonicalRoute(v as string);
    if (c === null) throw badRequest('ERR_INVALID_ROUTE', `${field}[${i}] is not a CIDR`, `${field}[${i}]`);
    out.add(c);
  });
  return [...out].sort();
}

/** An exit node is one approval for both families (as Headscale): either default route means both. */
export function withExitPair(routes: string[]): string[] {
  return routes.some((r) => (EXIT_ROUTES as readonly string[]).includes(r)) ? [...new Set([...routes, ...EXIT_ROUTES])].sort() : routes;
}

/** `exit` means both default routes; anything else must be a CIDR. */
export function parseRouteArg(route: string): string[] {
  if (route === 'exit' || route === 'exit-node') return [...EXIT_ROUTES];
  const c = canonicalRoute(route);
  if (c === null) throw badRequest('ERR_INVALID_ROUTE', `${JSON.stringify(route)} is not a CIDR (or "exit")`, 'route');
  return [c];
}
