import { readFileSync } from 'node:fs';

// The version printed by `weft version` and `weft --version`: package.json's, read where
// the package is installed (dist/src/cli/ -> the package root), so a release bumps one place.

export const VERSION: string = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
