import { api } from '../api.js';
import { h, notice, table, when } from '../dom.js';

// Pre-auth keys: create (reusable, ephemeral, expiry, tags, user) and revoke. A new
// key's secret is shown once, as the CLI prints it once.
const EXPIRY = [['1 hour', 3600], ['1 day', 86400], ['7 days', 7 * 86400], ['90 days', 90 * 86400], ['never', 0]];

export async function mount(root) {
  const list = h('div');
  const shown = h('p', { id: 'new-key' });
  const form = h(
    'form',
    { id: 'create-key', class: 'inline' },
    h('label', {}, h('input', { type: 'checkbox', name: 'reusable' }), ' reusable'),
    h('label', {}, h('input', { type: 'checkbox', name: 'ephemeral' }), ' ephemeral'),
    h('label', {}, 'expires in ', h('select', { name: 'expiry' }, EXPIRY.map(([l, s]) => h('option', { value: s }, l)))),
    h('label', {}, 'tags ', h('input', { name: 'tags', placeholder: 'tag:server, tag:ci' })),
    h('label', {}, 'user ', h('input', { name: 'user', placeholder: 'alice@' })),
    h('button', { type: 'submit' }, 'Create key'),
  );
  async function load() {
    const { authKeys } = await api('GET', '/api/v1/admin/authkeys');
    const rows = authKeys.map((k) =>
      h(
        'tr',
        { dataset: { key: k.id } },
        h('td', {}, k.id),
        h('td', {}, h('code', {}, k.prefix)),
        h('td', {}, [k.reusable && 'reusable', k.ephemeral && 'ephemeral'].filter(Boolean).join(', ') || 'one-off'),
        h('td', {}, k.tags.join(', ') || (k.user ?? '—')),
        h('td', {}, String(k.usedCount)),
        h('td', {}, when(k.expiresAt)),
        h('td', {}, k.revoked ? 'revoked' : h('button', { type: 'button', onclick: () => api('DELETE', `/api/v1/admin/authkeys/${k.id}`).then(load, (e) => notice(e.message, true)) }, 'Revoke')),
      ),
    );
    list.replaceChildren(table(['Id', 'Prefix', 'Kind', 'Tags / user', 'Used', 'Expires', ''], rows, { id: 'keys' }));
  }
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const tags = String(f.get('tags')).split(/[\s,]+/).filter(Boolean).map((t) => (t.startsWith('tag:') ? t : `tag:${t}`));
    const user = String(f.get('user')).trim();
    const body = { reusable: f.has('reusable'), ephemeral: f.has('ephemeral'), expirySeconds: Number(f.get('expiry')), tags, ...(user ? { user } : {}) };
    try {
      const k = await api('POST', '/api/v1/admin/authkeys', body);
      shown.replaceChildren('New key (shown once): ', h('code', { class: 'secret' }, k.key));
      await load();
    } catch (err) {
      notice(`${err.field ? `${err.field}: ` : ''}${err.message}`, true);
    }
  });
  root.append(h('h1', {}, 'Pre-auth keys'), form, shown, list);
  await load();
}
