// Builds elements from data without innerHTML, so nothing a node or admin typed is
// ever parsed as markup.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');

/** A table with a header row; `rows` are arrays of cells (strings or elements). */
export function table(headers, rows, attrs = {}) {
  return h('table', attrs, h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))), h('tbody', {}, rows));
}

/** Shows a message in the page's status line. */
export function notice(text, isError = false) {
  const el = document.getElementById('status') ?? document.getElementById('view').appendChild(h('p', { id: 'status', role: 'status' }));
  el.textContent = text;
  el.className = isError ? 'error' : 'ok';
}
