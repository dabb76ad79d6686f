// The admin API (src/control/api.ts) from the browser: the session cookie authenticates,
// and every write carries the session's CSRF token.
let csrf = '';

export class ApiError extends Error {
  constructor(status, body) {
    const e = body?.error ?? {};
    super(e.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = e.code;
    this.field = e.field;
    this.line = e.line;
    this.column = e.column;
  }
}

export function setCsrf(token) {
  csrf = token;
}

/** Called on 401: the session is gone. */
export let onLoggedOut = () => {};
export function whenLoggedOut(fn) {
  onLoggedOut = fn;
}

export async function api(method, path, body) {
  const headers = {};
  if (method !== 'GET') headers['x-weft-csrf'] = csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  const json = await res.json().catch(() => undefined);
  if (res.status === 401 && !path.startsWith('/admin/')) onLoggedOut();
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}
