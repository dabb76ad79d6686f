import { createRequire } from 'node:module';

// The package's version, from the package.json that ships beside dist/ (checkout or installed).
export const VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
