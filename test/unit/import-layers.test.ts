import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// The module layering rule (issue 13), enforced on the TypeScript sources: agent and
// coordinator share only src/wire (and lower layers), never import each other; src/cli
// is the top, imported by nothing outside it; src/wire and src/net sit below both.

const SRC = resolve(fileURLToPath(new URL('../../../src', import.meta.url)));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Top folder under src/ of every relative module `file` imports (static, re-export or dynamic). */
function importedFolders(file: string, text: string): string[] {
  const specs = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)'(\.[^']+)'/gm)].map((m) => m[1]);
  return specs.map((s) => relative(SRC, resolve(dirname(file), s)).split(/[\\/]/)[0]);
}

const folderOf = (file: string): string => relative(SRC, file).split(/[\\/]/)[0];

/** Folder -> folders it must not import. */
const FORBIDDEN: Record<string, string[]> = {
  agent: ['control', 'cli'],
  control: ['agent', 'cli'],
  wire: ['agent', 'control', 'cli', 'relay', 'nat'],
  net: ['agent', 'control', 'cli', 'wire', 'wireguard', 'policy'],
};
const allFolders = (): string[] => readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);

function violations(): string[] {
  const out: string[] = [];
  for (const file of sources(SRC)) {
    const from = folderOf(file);
    // Nothing outside src/cli imports src/cli.
    const banned = new Set([...(FORBIDDEN[from] ?? []), ...(from === 'cli' ? [] : ['cli'])]);
    for (const to of importedFolders(file, readFileSync(file, 'utf8'))) if (banned.has(to)) out.push(`${relative(SRC, file)} imports src/${to}`);
  }
  return out;
}

test('src/ keeps its layers: agent and control meet only in src/wire; nothing outside src/cli imports it', () => {
  assert.ok(allFolders().includes('wire') && allFolders().includes('agent'), `scanning ${SRC}`);
  assert.deepEqual(violations(), []);
});

test('the scanner sees every import form it must catch', () => {
  const f = join(SRC, 'agent', 'x.ts');
  const text = "import { a } from '../control/wire.js';\nimport type { B } from '../cli/errors.js';\nexport { c } from '../wire/control.js';\nconst m = await import('../control/server.js');\nimport '../cli/main.js';\nimport x from 'node:fs';";
  assert.deepEqual(importedFolders(f, text), ['control', 'cli', 'wire', 'control', 'cli']);
});
