import type { Command } from 'commander';
import type { AdminClient } from '../control/admin-client.js';
import { canonicalRoute, EXIT_ROUTES } from '../control/routes.js';
import type { NodeView, RouteView } from '../wire/control.js';
import { InvalidArgumentError, WeftError } from '../errors.js';
import { table } from './format.js';
import type { TargetOptions } from './server-commands.js';

// `weft routes list|approve|unapprove`. Approval says what changed: the approved set is
// read before and after, so a pre-approval (a route the node does not advertise yet) is
// a warning, "already approved" is no news, and withdrawing what was never approved,
// or a CIDR with host bits set (which would widen to its network), is refused.

/** `exit`, or a CIDR whose address is its network address. */
export function parseApprovalRoute(route: string): string[] {
  if (route === 'exit' || route === 'exit-node') return [...EXIT_ROUTES];
  const canon = canonicalRoute(route);
  if (canon === null) {
    const host = canonicalRoute(`${route}/${route.includes(':') ? 128 : 32}`);
    throw new InvalidArgumentError(`${JSON.stringify(route)} is not a CIDR${host ? ` (one host is ${host})` : ''}`);
  }
  const [addr, bits] = route.split('/');
  const full = route.includes(':') ? 128 : 32;
  if (canonicalRoute(`${addr}/${full}`) !== `${canon.split('/')[0]}/${full}`) {
    throw new InvalidArgumentError(`${route} has host bits set: approve its network ${canon}, or the one host ${canonicalRoute(`${addr}/${full}`)}, not /${bits} around it`);
  }
  return [canon];
}

/** `exit node (0.0.0.0/0, ::/0)` when both default routes are in `routes`. */
function describe(routes: string[]): string {
  const exit = EXIT_ROUTES.every((r) => routes.includes(r));
  const rest = routes.filter((r) => !exit || !(EXIT_ROUTES as readonly string[]).includes(r));
  return [...(exit ? [`exit node (${EXIT_ROUTES.join(', ')})`] : []), ...rest].join(', ');
}

async function approvedOf(c: AdminClient, node: string): Promise<string[]> {
  const { routes } = await c.request<{ routes: RouteView[] }>('GET', '/api/v1/admin/routes');
  // An exit node is one row, `exit`, for both default routes.
  return routes.filter((r) => r.node === node && r.approved).flatMap((r) => (r.exitNode ? [...EXIT_ROUTES] : [r.route]));
}

export function registerRouteCommands(
  program: Command,
  withTarget: (c: Command) => Command,
  client: (o: TargetOptions) => AdminClient,
  out: (s: string) => void,
  err: (s: string) => void,
): void {
  const routes = program.command('routes').description('advertised subnet routes and exit nodes');
  withTarget(routes.command('list'))
    .description('list advertised and approved routes')
    .option('--json', 'machine-readable output')
    .action(async (o: TargetOptions & { json?: boolean }) => {
      const { routes: list } = await client(o).request<{ routes: RouteView[] }>('GET', '/api/v1/admin/routes');
      if (o.json) return out(JSON.stringify(list, null, 2) + '\n');
      out(table([['NODE', 'IPV4', 'ROUTE', 'APPROVED', 'ADVERTISED', 'EXIT'], ...list.map((r) => [r.node, r.ipv4, r.route, r.approved ? 'yes' : 'no', r.advertised ? 'yes' : 'no', r.exitNode ? 'yes' : '-'])]));
    });

  for (const [name, approve] of [['approve', true], ['unapprove', false]] as const) {
    withTarget(routes.command(name))
      .description(`${approve ? 'approve' : 'withdraw approval of'} a node's route (a CIDR, or "exit" for 0.0.0.0/0 and ::/0)`)
      .argument('<node>', 'node name or mesh address')
      .argument('<route>', 'CIDR (network address, e.g. 10.0.0.0/24; one host is /32) or "exit"')
      .action(async (nodeRef: string, route: string, o: TargetOptions) => {
        const wanted = parseApprovalRoute(route);
        const c = client(o);
        const node = await c.request<NodeView>('GET', `/api/v1/admin/nodes/${encodeURIComponent(nodeRef)}`);
        const before = await approvedOf(c, node.name);
        if (!approve && !wanted.some((r) => before.includes(r))) {
          throw new WeftError('ERR_ROUTE_NOT_APPROVED', `${describe(wanted)} is not approved for ${node.name}: nothing to withdraw`);
        }
        await c.request<NodeView>('POST', `/api/v1/admin/routes/${name}`, { node: nodeRef, route: wanted.length > 1 ? 'exit' : wanted[0] });
        const after = await approvedOf(c, node.name);
        const changed = approve ? after.filter((r) => !before.includes(r)) : before.filter((r) => !after.includes(r));
        if (changed.length === 0) return out(`${node.name}: ${describe(wanted)} was already approved; nothing changed\n`);
        out(`${node.name}: ${approve ? 'approved' : 'withdrew approval of'} ${describe(changed)}\n`);
        const advertised = node.advertisedRoutes ?? [];
        const early = approve ? changed.filter((r) => !advertised.includes(r)) : [];
        if (early.length) {
          const flag = early.some((r) => (EXIT_ROUTES as readonly string[]).includes(r)) ? '--advertise-exit-node' : '--advertise-routes';
          err(`weft: warning: ${node.name} does not advertise ${describe(early)}; the approval takes effect once it does (weft up ${flag})\n`);
        }
      });
  }
}
