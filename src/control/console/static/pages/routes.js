import { api } from '../api.js';
import { h, notice, table } from '../dom.js';

// Subnet routes and exit nodes (one "exit" row for 0.0.0.0/0 and ::/0): approve or withdraw.
export async function mount(root) {
  const list = h('div');
  async function load() {
    const { routes } = await api('GET', '/api/v1/admin/routes');
    const rows = routes.map((r) => {
      const change = (approve) => api('POST', `/api/v1/admin/routes/${approve ? 'approve' : 'unapprove'}`, { node: r.node, route: r.route }).then(load, (e) => notice(e.message, true));
      return h(
        'tr',
        { dataset: { node: r.node, route: r.route } },
        h('td', {}, r.node),
        h('td', {}, r.exitNode ? 'exit node' : r.route),
        h('td', {}, r.advertised ? 'yes' : 'no'),
        h('td', { class: r.approved ? 'online' : '' }, r.approved ? 'approved' : 'pending'),
        h('td', {}, r.approved ? h('button', { type: 'button', onclick: () => change(false) }, 'Withdraw') : h('button', { type: 'button', onclick: () => change(true) }, 'Approve')),
      );
    });
    list.replaceChildren(rows.length ? table(['Node', 'Route', 'Advertised', 'State', ''], rows, { id: 'routes' }) : h('p', {}, 'No node advertises a route.'));
  }
  root.append(h('h1', {}, 'Routes'), list);
  await load();
}
