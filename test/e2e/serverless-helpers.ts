// Shared by the serverless e2e files: the README's serverless commands and status polling.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StatusJson } from '../../src/agent/status.js';
import { sleep } from '../../src/lab/netns.js';
import { PACKAGE_ROOT } from '../../src/lab/wg-pair.js';

/** The README's lines in the block marked `<!-- <marker>`, comments stripped, split into words. */
export function readmeLines(marker = 'serverless-commands'): string[][] {
  const md = readFileSync(join(PACKAGE_ROOT, 'README.md'), 'utf8');
  const block = new RegExp(`<!-- ${marker}[^]*?\`\`\`bash\n([^]*?)\`\`\``).exec(md);
  assert.ok(block, `README ${marker} block`);
  return block[1]
    .split('\n')
    .map((l) => l.replace(/\s*#.*$/, '').trim())
    .filter((l) => l !== '')
    .map((l) => l.split(/\s+/));
}

/** The README line that is exactly `words` (placeholders included). */
export function readmeLine(readme: string[][], ...words: string[]): string[] {
  const l = readme.find((x) => x.length === words.length && words.every((w, i) => x[i] === w));
  assert.ok(l, `README shows ${words.join(' ')}`);
  return l;
}

/** Polls `status(name)` until `done` holds; the error shows peers and member states. */
export async function waitStatus(status: (name: string) => Promise<StatusJson>, name: string, done: (s: StatusJson) => boolean, what: string, timeoutMs = 60_000): Promise<StatusJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await status(name);
    if (done(s)) return s;
    if (Date.now() > deadline) throw new Error(`${name}: ${what}; status: ${JSON.stringify({ peers: s.peers.map((p) => [p.name, p.path, p.pathReason]), members: s.members?.map((m) => [m.name, m.state]) })}`);
    await sleep(250);
  }
}

export const memberState = (s: StatusJson, name: string): string | undefined => s.members?.find((m) => m.name === name)?.state;
