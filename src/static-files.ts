import { readFileSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';

// The hand-written pages (ES modules, CSS, no build step), read once at start-up and
// served from memory: a request can only name a file that exists in this table, so no
// path ever reaches the file system. Shared by the admin console and `weft web`.

/** Scripts and styles only from this origin; no inline code, no frames, no plugins. */
export const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

export interface StaticFile {
  type: string;
  body: Buffer;
}

/** Every file under `dir` (recursively) keyed by its path relative to `dir`, `/`-separated. */
export function loadStatic(dir: string): Map<string, StaticFile> {
  const out = new Map<string, StaticFile>();
  const walk = (sub: string): void => {
    for (const e of readdirSync(join(dir, sub), { withFileTypes: true })) {
      const rel = sub ? `${sub}/${e.name}` : e.name;
      if (e.isDirectory()) walk(rel);
      else if (TYPES[extname(e.name)]) out.set(rel, { type: TYPES[extname(e.name)], body: readFileSync(join(dir, rel)) });
    }
  };
  walk('');
  return out;
}

/** Headers every page and asset is sent with. */
export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};
