import { api } from '../api.js';
import { h, when } from '../dom.js';

// The policy editor: Check runs the coordinator's check (parse, compile against the
// real nodes, the policy's own tests) without saving; Save checks first and stores only
// a policy that passed. An error is shown at its line:column and the cursor moved there.

/** Offset in `text` of 1-based line:column. */
function offsetOf(text, line, column) {
  let at = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf('\n', at);
    if (nl < 0) return text.length;
    at = nl + 1;
  }
  return Math.min(text.length, at + Math.max(0, column - 1));
}

export async function mount(root) {
  const editor = h('textarea', { id: 'policy-text', spellcheck: 'false', rows: 24, wrap: 'off' });
  const gutter = h('pre', { class: 'gutter', 'aria-hidden': 'true' });
  const result = h('p', { id: 'policy-result', role: 'status' });
  const updated = h('small');
  const drawGutter = (bad = 0) => {
    const n = editor.value.split('\n').length;
    gutter.replaceChildren(...Array.from({ length: n }, (_, i) => h('span', { class: i + 1 === bad ? 'bad' : '' }, `${i + 1}\n`)));
  };
  editor.addEventListener('input', () => drawGutter());
  editor.addEventListener('scroll', () => (gutter.scrollTop = editor.scrollTop));

  const show = (err) => {
    if (err.line === undefined) {
      result.textContent = err.message;
      result.className = 'error';
      return;
    }
    result.textContent = `line ${err.line}, column ${err.column}: ${err.message}`;
    result.className = 'error';
    result.dataset.line = err.line;
    drawGutter(err.line);
    const at = offsetOf(editor.value, err.line, err.column);
    editor.focus();
    editor.setSelectionRange(at, at);
  };
  const check = async () => {
    delete result.dataset.line;
    const r = await api('POST', '/api/v1/admin/policy/check', { policy: editor.value });
    drawGutter();
    return r;
  };
  const run = (fn) => async () => {
    try {
      await fn();
    } catch (err) {
      show(err);
    }
  };
  const checkBtn = h('button', { type: 'button', id: 'policy-check', onclick: run(async () => {
    const r = await check();
    result.textContent = `ok: ${r.acls} ACLs, ${r.testCases} test cases passed (not saved)`;
    result.className = 'ok';
  }) }, 'Check');
  const saveBtn = h('button', { type: 'button', id: 'policy-save', onclick: run(async () => {
    const r = await check();
    await api('PUT', '/api/v1/admin/policy', { policy: editor.value });
    result.textContent = `saved: ${r.acls} ACLs, ${r.testCases} test cases passed`;
    result.className = 'ok';
  }) }, 'Save');

  const p = await api('GET', '/api/v1/admin/policy');
  editor.value = p.policy;
  updated.textContent = p.updatedAt ? ` last saved ${when(p.updatedAt)}` : ' (default policy, never saved)';
  drawGutter();
  root.append(h('h1', {}, 'Policy', updated), h('div', { class: 'editor' }, gutter, editor), h('p', {}, checkBtn, ' ', saveBtn), result);
}
