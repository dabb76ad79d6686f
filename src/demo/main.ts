// `npm run demo`: a coordinator and three nodes. As root, in network namespaces with
// the real CLI (netns.ts); otherwise in one process over an in-memory network
// (in-process.ts), saying why.
import { missingTools, rootReason } from '../lab/require.js';
import { inProcessDemo } from './in-process.js';
import { netnsDemo } from './netns.js';

const say = (line: string) => process.stdout.write(line + '\n');

async function main(): Promise<number> {
  const why = rootReason() ?? missingTools(['ip', 'ping'])[0] ?? null;
  if (why === null) {
    say('weft demo: coordinator + 3 nodes, each in its own network namespace\n');
    return (await netnsDemo(say)) ? 0 : 1;
  }
  say(`weft demo: not using network namespaces (${why});`);
  say('running the coordinator and 3 agents in this process over an in-memory network instead\n');
  return (await inProcessDemo(say)) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`demo failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
