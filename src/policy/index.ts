// The policy engine's public surface (see docs/POLICY.md for how control and the agent use it).
import { compilePolicy, type CompiledPolicy } from './compile.js';
import { parsePolicy } from './parse.js';
import { assertPolicyTests } from './tests.js';
import type { Policy, PolicyNode } from './types.js';

export { PolicyError, type PolicyErrorCode } from './errors.js';
export { parsePolicy } from './parse.js';
export { compilePolicy, CompiledPolicy, filtersEqual, type WireFilterRule } from './compile.js';
export { runPolicyTests, assertPolicyTests, type PolicyTestFailure } from './tests.js';
export { PacketFilter, type FilterStats, type PacketFilterOptions } from './filter.js';
export { mayUseTag, type TagPrincipal } from './tag-owners.js';
export { DEFAULT_POLICY_TEXT, normalizeUser, type Policy, type PolicyNode } from './types.js';

/**
 * What `policy set` and the admin API run before accepting a policy: parse, compile
 * against the current nodes, run the policy's tests. Throws PolicyError (with line) on
 * the first problem; the caller keeps its running policy in that case.
 */
export function checkPolicy(text: string, nodes: readonly PolicyNode[] = []): { policy: Policy; compiled: CompiledPolicy } {
  const policy = parsePolicy(text);
  assertPolicyTests(policy, nodes);
  return { policy, compiled: compilePolicy(policy, nodes) };
}
export { autoApproved, isExitRoute, selectorMatchesNode } from './auto-approvers.js';
