import { generatePrivateKey, publicKeyFromPrivate } from '../crypto/keys.js';
import type { Logger } from '../log.js';
import type { PathHop } from '../onion/circuit.js';
import type { OnionExitPolicy } from '../onion/exit.js';
import type { LinkHubOptions } from '../onion/link.js';
import { OnionNode } from '../onion/node.js';

// An in-process onion network on loopback for tests and bench/circuit.ts: n relays
// (the last `exits` of them serve `exitPolicy`) plus one client node, each with its own
// TCP listener on 127.0.0.1 and fresh keys.

export interface LoopbackRelay {
  name: string;
  node: OnionNode;
  hop: PathHop;
}

export interface LoopbackOnion {
  client: OnionNode;
  relays: LoopbackRelay[];
  close(): Promise<void>;
}

export interface LoopbackOptions extends LinkHubOptions {
  relays: number;
  exitPolicy: OnionExitPolicy;
  /** Per-relay logger (tests capture one relay's lines). */
  loggerFor?: (name: string) => Logger | undefined;
}

export async function startLoopbackOnion(opts: LoopbackOptions): Promise<LoopbackOnion> {
  const relays: LoopbackRelay[] = [];
  const all: OnionNode[] = [];
  try {
    for (let i = 0; i < opts.relays; i++) {
      const name = `relay${i + 1}`;
      const priv = generatePrivateKey();
      const pub = publicKeyFromPrivate(priv);
      const node = new OnionNode({ staticPrivate: priv, staticPublic: pub, exitPolicy: opts.exitPolicy, wireTap: opts.wireTap, logger: opts.loggerFor?.(name) });
      all.push(node);
      const port = await node.listen('127.0.0.1', 0);
      relays.push({ name, node, hop: { name, address: `127.0.0.1:${port}`, publicKey: pub } });
    }
    const cpriv = generatePrivateKey();
    const client = new OnionNode({ staticPrivate: cpriv, staticPublic: publicKeyFromPrivate(cpriv), wireTap: opts.wireTap });
    all.push(client);
    return { client, relays, close: () => closeAll(all) };
  } catch (err) {
    await closeAll(all);
    throw err;
  }
}

async function closeAll(nodes: OnionNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.close()));
}
