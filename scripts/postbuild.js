// Marks the compiled CLI entry points executable (tsc does not keep modes), and copies
// the web console's and `weft web`'s hand-written pages, which ship as they are.
import { chmodSync, cpSync, existsSync, rmSync } from 'node:fs';
for (const f of ['dist/src/cli/main.js', 'dist/src/cli/weft-wg.js']) if (existsSync(f)) chmodSync(f, 0o755);
for (const d of ['src/control/console/static', 'src/web/static']) {
  if (!existsSync(d)) continue;
  rmSync(`dist/${d}`, { recursive: true, force: true });
  cpSync(d, `dist/${d}`, { recursive: true });
}
