import { api } from '../api.js';
import { h, notice, table, when } from '../dom.js';
import { subscribe } from '../events.js';

// Nodes: one row each, kept current by the live event stream; delete, expire, rename.
// Version and paths are what the node's agent last reported (AdminNodeView), else "—".
const enc = encodeURIComponent;

function paths(p) {
  const list = Object.entries(p ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (!list.length) return '—';
  const count = (kind) => list.filter(([, v]) => v === kind).length;
  return h('span', { title: list.map(([peer, v]) => `${peer}: ${v}`).join('\n'), class: 'paths' }, `${count('direct')} direct, ${count('relay')} relay`);
}

function row(n, refresh) {
  const act = (label, fn) => h('button', { type: 'button', onclick: () => fn().then(refresh, (e) => notice(`${n.name}: ${e.message}`, true)) }, label);
  return h(
    'tr',
    { dataset: { node: n.name, online: String(n.online) } },
    h('td', {}, n.name),
    h('td', {}, n.tags.length ? n.tags.join(', ') : (n.user ?? '—')),
    h('td', {}, n.ipv4, h('br'), h('small', {}, n.ipv6)),
    h('td', { class: n.online ? 'online' : 'offline' }, n.online ? 'online' : 'offline'),
    h('td', {}, when(n.lastSeen)),
    h('td', {}, n.version ?? '—'),
    h('td', {}, paths(n.paths)),
    h('td', { class: n.expired ? 'error' : '' }, n.expired ? 'expired' : when(n.expiresAt)),
    h(
      'td',
      { class: 'actions' },
      act('Rename', async () => {
        const name = prompt(`New name for ${n.name}`, n.name);
        if (name && name !== n.name) await api('POST', `/api/v1/admin/nodes/${enc(n.name)}/rename`, { name });
      }),
      act('Expire', () => api('POST', `/api/v1/admin/nodes/${enc(n.name)}/expire`, {})),
      act('Delete', async () => {
        if (confirm(`Delete ${n.name}? It must log in again to rejoin.`)) await api('DELETE', `/api/v1/admin/nodes/${enc(n.name)}`);
      }),
    ),
  );
}

export async function mount(root) {
  // One row element per node id: an event replaces just that row (1,000 nodes stay cheap).
  const rows = new Map();
  const online = new Set();
  const tbody = h('tbody');
  const count = h('span');
  const counted = () => (count.textContent = `${online.size} of ${rows.size} online`);
  const put = (n) => {
    const tr = row(n, load);
    const old = rows.get(n.id);
    if (old) old.replaceWith(tr);
    else tbody.append(tr);
    rows.set(n.id, tr);
    n.online ? online.add(n.id) : online.delete(n.id);
  };
  async function load() {
    const { nodes } = await api('GET', '/api/v1/admin/nodes');
    rows.clear();
    online.clear();
    tbody.replaceChildren();
    for (const n of nodes.sort((a, b) => a.name.localeCompare(b.name))) put(n);
    counted();
  }
  const t = table(['Name', 'User / tags', 'Addresses', 'Status', 'Last seen', 'Version', 'Path', 'Key expiry', ''], [], { id: 'nodes' });
  t.querySelector('tbody').replaceWith(tbody);
  root.append(h('h1', {}, 'Nodes ', count), t);
  await load();
  return subscribe({
    onOpen: load,
    onNode: (n) => {
      put(n);
      counted();
    },
    onRemove: (id) => {
      rows.get(id)?.remove();
      rows.delete(id);
      online.delete(id);
      counted();
    },
  });
}
