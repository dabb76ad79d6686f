// Longer coverage-guided fuzzing runs than the unit test's:
//   npm run fuzz -- [--target NAME] [--ms 60000] [--save]
// --save writes every input that reached new coverage into test/fuzz/corpus/<target>/.
import { parseArgs } from 'node:util';
import { addToCorpus, readCorpus } from './corpus.js';
import { fuzz } from './fuzzer.js';
import { fuzzTargets } from './targets.js';

const { values } = parseArgs({
  options: { target: { type: 'string' }, ms: { type: 'string', default: '60000' }, save: { type: 'boolean', default: false } },
});
const ms = Number(values.ms);
if (!Number.isFinite(ms) || ms <= 0) throw new Error(`--ms: not a positive number: ${values.ms}`);
const targets = fuzzTargets().filter((t) => !values.target || t.name === values.target);
if (!targets.length) throw new Error(`--target: no fuzz target named ${values.target}`);

let failed = false;
for (const t of targets) {
  const r = fuzz((b) => t.run(b), readCorpus(t.name), { ms });
  if (values.save) for (const input of r.found) addToCorpus(t.name, input);
  console.log(`${t.name}: ${r.runs} runs, ${r.features} features, ${r.found.length} new inputs${values.save ? ' saved' : ''}`);
  if (r.crash) {
    failed = true;
    console.log(`  CRASH on ${Buffer.from(r.crash.input).toString('hex')}\n  ${(r.crash.error as Error)?.stack ?? r.crash.error}`);
  }
}
process.exitCode = failed ? 1 : 0;
