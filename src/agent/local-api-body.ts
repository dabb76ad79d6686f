import { WeftError } from '../errors.js';

// The local API's request bodies, checked field by field (what a JSON schema said when
// the API ran on fastify): an object with only the listed fields, each of its type and
// within its bounds. Failures are WeftError ERR_VALIDATION naming the field.

export type FieldSpec = { required?: boolean } & (
  | { type: 'string'; minLength?: number; maxLength: number }
  | { type: 'string'; enum: readonly string[] }
  | { type: 'integer'; minimum: number; maximum: number }
  | { type: 'boolean' }
);
export type BodySpec = Record<string, FieldSpec>;

const invalid = (message: string): WeftError => new WeftError('ERR_VALIDATION', message);

/** `body` when it matches `spec`; throws ERR_VALIDATION otherwise. */
export function checkBody(body: unknown, spec: BodySpec): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('body must be an object');
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (!Object.hasOwn(spec, k)) throw invalid(`body must not have property '${k}'`);
  for (const [k, f] of Object.entries(spec)) {
    const v = b[k];
    if (v === undefined) {
      if (f.required) throw invalid(`body must have required property '${k}'`);
      continue;
    }
    if (f.type === 'boolean' && typeof v !== 'boolean') throw invalid(`body/${k} must be boolean`);
    if (f.type === 'integer' && (!Number.isInteger(v) || (v as number) < f.minimum || (v as number) > f.maximum)) throw invalid(`body/${k} must be an integer from ${f.minimum} to ${f.maximum}`);
    if (f.type === 'string' && 'enum' in f && !f.enum.includes(v as string)) throw invalid(`body/${k} must be one of ${f.enum.join(', ')}`);
    if (f.type === 'string' && 'maxLength' in f && (typeof v !== 'string' || v.length < (f.minLength ?? 0) || v.length > f.maxLength)) {
      throw invalid(`body/${k} must be a string of ${f.minLength ?? 0} to ${f.maxLength} characters`);
    }
  }
  return b;
}
