import { api } from '../api.js';
import { h, table, when } from '../dom.js';

// The audit log, newest first.
export async function mount(root) {
  const { entries } = await api('GET', '/api/v1/admin/audit?limit=200');
  const rows = entries.reverse().map((e) => h('tr', {}, h('td', {}, when(e.time)), h('td', {}, e.actor), h('td', {}, e.action), h('td', {}, e.target), h('td', {}, h('code', {}, JSON.stringify(e.detail))), h('td', {}, e.source)));
  root.append(h('h1', {}, 'Audit log'), table(['Time', 'Actor', 'Action', 'Target', 'Detail', 'Source'], rows, { id: 'audit' }));
}
