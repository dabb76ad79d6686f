import jsonc from 'jsonc-parser';
import type { Node as JsonNode } from 'jsonc-parser';
import { PolicyError } from './errors.js';

// HuJSON = JSON plus comments and trailing commas (Tailscale's policy format). We keep
// jsonc-parser's syntax tree rather than plain values so every later check can report
// the line of the element it rejects.
export type { JsonNode };

/** Maps offsets to 1-based line:column. */
export class SourceMap {
  private readonly lineStarts: number[] = [0];
  constructor(text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
  }

  position(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.lineStarts[lo] + 1 };
  }
}

/** Parses HuJSON into a syntax tree; the first syntax error is thrown as ERR_POLICY_SYNTAX. */
export function parseHuJSON(text: string, map = new SourceMap(text)): JsonNode {
  const errors: jsonc.ParseError[] = [];
  const root = jsonc.parseTree(text, errors, { allowTrailingComma: true, disallowComments: false });
  const first = errors[0];
  if (first) {
    const { line, column } = map.position(first.offset);
    throw new PolicyError('ERR_POLICY_SYNTAX', line, column, `syntax error: ${jsonc.printParseErrorCode(first.error)}`);
  }
  if (!root) throw new PolicyError('ERR_POLICY_SYNTAX', 1, 1, 'syntax error: empty document');
  return root;
}
