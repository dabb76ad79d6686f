// Marks the compiled CLI entry points executable (tsc does not keep modes).
import { chmodSync, existsSync } from 'node:fs';
for (const f of ['dist/src/cli/main.js', 'dist/src/cli/weft-wg.js']) if (existsSync(f)) chmodSync(f, 0o755);
