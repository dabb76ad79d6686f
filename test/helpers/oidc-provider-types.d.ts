// Just what test/helpers/oidc-provider.ts uses of the untyped oidc-provider package.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    proxy: boolean;
  }
}

declare module 'oidc-provider/lib/adapters/memory_adapter.js' {
  /** An in-memory adapter factory; providers given the same one share their storage. */
  export function createMemoryAdapter(clockTolerance?: number): (model: string) => unknown;
}
