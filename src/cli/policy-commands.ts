import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidArgumentError } from '../errors.js';
import { checkPolicy, parsePolicy, PolicyError, type PolicyNode } from '../policy/index.js';

// `weft policy get | set FILE | check FILE`. `check` runs fully offline (parse, compile,
// the policy's own tests); `set` checks locally first so syntax and reference errors
// never reach the server, and the coordinator re-checks against its real node list.

/** What the coordinator's admin client provides (GET/PUT /api/v1/admin/policy). */
export interface PolicyAdmin {
  get(): Promise<string>;
  /** Rejects with a PolicyError (code, line, column) when the coordinator refuses it. */
  set(text: string): Promise<void>;
}

export interface PolicyCliIO {
  out(s: string): void;
  err(s: string): void;
}

const stdio: PolicyCliIO = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

/** `FILE:LINE:COL: reason (CODE)`, the format editors jump to. */
export function formatPolicyError(file: string, err: unknown): string {
  if (err instanceof PolicyError) return `${file}:${err.line}:${err.column}: ${err.reason} (${err.code})`;
  const e = err as { code?: string; message?: string; line?: number; column?: number };
  if (typeof e?.line === 'number') return `${file}:${e.line}:${e.column ?? 1}: ${e.message} (${e.code})`;
  return `${file}: ${e?.message ?? String(err)}${e?.code ? ` (${e.code})` : ''}`;
}

/** Errors about the policy itself are shown as FILE:LINE:COL; the rest go to the CLI's one handler. */
function isPolicyError(err: unknown): boolean {
  const e = err as { line?: unknown; code?: unknown };
  return err instanceof PolicyError || typeof e?.line === 'number' || String(e?.code).startsWith('ERR_POLICY');
}

/** Reads a node list for `check --nodes`: PolicyNode[] or the admin API's NodeView[]. */
async function readNodes(file: string): Promise<PolicyNode[]> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw new InvalidArgumentError(`--nodes ${file} is not JSON (${err.message})`);
  }
  if (!Array.isArray(json)) throw new InvalidArgumentError(`--nodes ${file} must hold a JSON array of nodes (as \`weft nodes list --json\` prints)`);
  return json.map((n: Record<string, unknown>) => ({
    id: String(n.publicKey ?? n.id ?? n.name),
    name: String(n.name),
    user: typeof n.user === 'string' ? n.user : null,
    tags: Array.isArray(n.tags) ? n.tags.map(String) : [],
    ipv4: String(n.ipv4),
    ipv6: String(n.ipv6),
  }));
}

/**
 * Adds `policy get|set|check`. `admin` may be a factory taking the command's options,
 * and `decorate` adds the coordinator's target options (--state-dir, --server, ...)
 * to get and set.
 */
export function registerPolicyCommands(
  program: Command,
  admin: PolicyAdmin | ((opts: Record<string, unknown>) => PolicyAdmin),
  decorate: (cmd: Command) => Command = (c) => c,
  io: PolicyCliIO = stdio,
): Command {
  const adminFor = (opts: Record<string, unknown>): PolicyAdmin => (typeof admin === 'function' ? admin(opts) : admin);
  const policy = program.command('policy').description('show, replace or check the access policy (HuJSON)');

  decorate(policy.command('get').description('print the running policy')).action(async (opts: Record<string, unknown>) => {
    io.out(await adminFor(opts).get());
  });

  decorate(policy.command('set').description('replace the running policy (rejected with line and reason if invalid)').argument('<file>'))
    .action(async (file: string, opts: Record<string, unknown>) => {
      const text = await readFile(file, 'utf8');
      try {
        parsePolicy(text);
        await adminFor(opts).set(text);
        io.out(`policy from ${file} is now in force\n`);
      } catch (err) {
        if (!isPolicyError(err)) throw err;
        io.err(`${formatPolicyError(file, err)}\npolicy not changed\n`);
        process.exitCode = 1;
      }
    });

  policy
    .command('check')
    .description('check a policy offline: syntax, references and its tests')
    .argument('<file>')
    .option('--nodes <file>', 'JSON array of nodes (as `weft nodes list --json`) to compile and test against')
    .action(async (file: string, opts: { nodes?: string }) => {
      const text = await readFile(file, 'utf8');
      const nodes = opts.nodes ? await readNodes(opts.nodes) : [];
      try {
        const { policy: p, compiled } = checkPolicy(text, nodes);
        const tests = p.tests.reduce((n, t) => n + t.cases.length, 0);
        let summary = `${file}: ok, ${p.acls.length} acls, ${tests} test cases passed`;
        if (nodes.length) {
          const rules = nodes.reduce((n, x) => n + compiled.filter(x.id).length, 0);
          summary += `, ${nodes.length} nodes, ${rules} filter rules`;
        }
        io.out(`${summary}\n`);
      } catch (err) {
        if (!isPolicyError(err)) throw err;
        io.err(`${formatPolicyError(file, err)}\n`);
        process.exitCode = 1;
      }
    });
  return policy;
}
