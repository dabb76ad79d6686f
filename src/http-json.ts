import type { IncomingMessage } from 'node:http';
import { WeftError } from './errors.js';

/** Reads a whole HTTP response and parses it as JSON; `json` is undefined when the body is not JSON. */
export function readJsonResponse(res: IncomingMessage): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('error', reject);
    res.on('end', () => {
      let json: unknown;
      try {
        json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        json = undefined;
      }
      resolve({ status: res.statusCode ?? 500, json });
    });
  });
}

/**
 * Reads a JSON request body of at most `maxBytes` (an empty body is `{}`).
 * Throws WeftError ERR_BODY_TOO_LARGE, or ERR_BAD_JSON when it does not parse.
 */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const body = await readBody(req, maxBytes);
  if (!body.length) return {};
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (err) {
    throw new WeftError('ERR_BAD_JSON', `body is not JSON: ${(err as Error).message}`);
  }
}

/** Reads a whole request or response body of at most `maxBytes`; throws WeftError ERR_BODY_TOO_LARGE past it. */
export async function readBody(stream: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of stream) {
    size += (c as Buffer).length;
    if (size > maxBytes) throw new WeftError('ERR_BODY_TOO_LARGE', `body over ${maxBytes} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}
