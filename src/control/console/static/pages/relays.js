import { api } from '../api.js';
import { h, table } from '../dom.js';

// Relays in the relay map; the embedded relay also lists the nodes connected to it.
export async function mount(root) {
  const { relays } = await api('GET', '/api/v1/admin/relays');
  const rows = relays.map((r) =>
    h('tr', { dataset: { relay: r.id } }, h('td', {}, r.id), h('td', {}, h('code', {}, r.url)), h('td', {}, r.stun.join(', ') || '—'), h('td', {}, r.embedded ? 'embedded' : 'standalone'), h('td', {}, r.clients === null ? 'not reported' : r.clients.join(', ') || 'none')),
  );
  root.append(h('h1', {}, 'Relays'), rows.length ? table(['Region', 'URL', 'STUN', 'Kind', 'Connected nodes'], rows, { id: 'relays' }) : h('p', {}, 'No relays in the relay map.'));
}
