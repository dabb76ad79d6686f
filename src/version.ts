import { readFileSync } from 'node:fs';

// The package's version, from the package.json that ships beside dist/ (checkout or
// installed): the nearest one above this file, which may be compiled (dist/src/) or
// bundled (dist/src/bundle/…, scripts/bundle.js).
function packageVersion(): string {
  for (let dir = new URL('./', import.meta.url); ; ) {
    try {
      return (JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { version: string }).version;
    } catch (err) {
      const up = new URL('../', dir);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || up.href === dir.href) throw err;
      dir = up;
    }
  }
}

export const VERSION: string = packageVersion();
