import type { IncomingMessage } from 'node:http';

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
