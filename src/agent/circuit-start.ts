import type { Logger } from '../log.js';
import type { NetStack } from '../netstack/stack.js';
import { TcpServer } from '../netstack/tcp-server.js';
import { dialTcp } from '../netstack/tcp-socket.js';
import type { LinkTransport } from '../onion/link.js';
import type { NodeView } from '../wire/control.js';
import type { Device } from '../wireguard/device.js';
import { CircuitAgent } from './circuits.js';
import { loadOrCreateKey } from './state.js';

// Starts the circuit side of `weft up` once the agent is up (its key and mesh address
// exist). The onion exit never serves the mesh, loopback or link-local ranges: its
// streams are for the outside, and the mesh is reachable directly anyway.

/** The circuit flags of `weft up`, parsed (src/cli/circuit-commands.ts). */
export interface CircuitArgs {
  /** Serve as a relay; set by any of the flags. */
  serve: boolean;
  exit: boolean;
  /** `--circuit-allow-same-network`: no /16 separation (labs on one LAN). */
  sameNetwork: boolean;
  exitCircuit?: { hops: number; exit?: string; socks5?: { host: string; port: number } };
}

const ALWAYS_BLOCKED = ['100.64.0.0/10', 'fc00::/7', '127.0.0.0/8', '::1/128', '169.254.0.0/16', 'fe80::/10', '0.0.0.0/8'];

/** What the circuit side needs of the running agent. */
export interface CircuitHostAgent {
  self: NodeView | null;
  peers: ReadonlyMap<string, NodeView>;
  /** The builtin engine; null with an external one. */
  device: Device | null;
  /** The userspace stack, when the agent runs on it: links run on it, and its front doors lead outside traffic into the circuit. */
  netstack: NetStack | null;
  findPeer(target: string): NodeView | undefined;
  /** More `weft status` fields from parts started beside the agent. */
  statusExtra: () => object;
}

export async function startCircuitAgent(
  agent: CircuitHostAgent,
  args: { stateDir: string; circuits?: CircuitArgs; exitPolicy: { allowPorts: string[]; block: string[] } },
  logger: Logger,
): Promise<CircuitAgent> {
  const c = args.circuits!;
  const { key } = await loadOrCreateKey(args.stateDir);
  const ca = new CircuitAgent({
    stateDir: args.stateDir,
    privateKey: key,
    listenHost: agent.self!.ipv4,
    peers: () => agent.peers.values(),
    exitPolicy: c.exit ? { allow: ['0.0.0.0/0', '::/0'], block: [...ALWAYS_BLOCKED, ...args.exitPolicy.block], ports: args.exitPolicy.allowPorts } : undefined,
    exitCircuit: c.exitCircuit,
    // The client's outside traffic enters the circuit from the kernel TUN (builtin engine).
    tun: c.exitCircuit && agent.device && !agent.netstack ? agent.device : undefined,
    blocked: ALWAYS_BLOCKED,
    isMeshName: (h) => agent.findPeer(h) !== undefined,
    transport: agent.netstack ? stackTransport(agent.netstack) : undefined,
    distinctNetworks: !c.sameNetwork,
    logger,
  });
  await ca.start();
  agent.statusExtra = () => {
    const circuit = ca.status();
    return circuit ? { circuit } : {};
  };
  return ca;
}

/** Links over the userspace stack (`--tun=userspace`: the mesh address exists only there). */
function stackTransport(stack: NetStack): LinkTransport {
  return {
    async listen(_host, port, onConnection) {
      const srv = new TcpServer(stack, { allowHalfOpen: false });
      srv.on('connection', onConnection);
      srv.listen(port);
      return { port: srv.address()!.port, close: () => new Promise<void>((resolve) => void srv.close(() => resolve())) };
    },
    connect: (host, port) => dialTcp(stack, host, port),
  };
}
