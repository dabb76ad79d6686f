// In-process mesh nodes for integration tests and the non-root demo: an agent on a
// FakeTun whose "kernel" answers pings, bound to an address on a FakeNetwork, with no
// OS configuration. Each node pretends to have one LAN interface holding that address.
import type { NetworkInterfaceInfo } from 'node:os';
import { createAgent, type Agent, type AgentOptions } from '../agent/agent.js';
import { echoReplyFor } from '../agent/icmp.js';
import { noOsConfig } from '../agent/os-config.js';
import type { FakeBind, FakeNetwork } from '../io/bind-fake.js';
import { FakeTun } from '../io/tun-fake.js';

export interface InProcessNode {
  agent: Agent;
  tun: FakeTun;
  /** The node's underlay ("LAN") address. */
  lanIp: string;
  /** Moves the node to another LAN address (its interface and its UDP socket), keeping the port. */
  moveTo(ip: string): void;
}

export function fakeInterfaces(ip: string): () => NodeJS.Dict<NetworkInterfaceInfo[]> {
  return () => ({ eth0: [{ address: ip, netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: `${ip}/24` }] });
}

/** Makes a FakeTun reply to ICMP echo requests written to it, as a host's kernel would. */
export function answerPings(tun: FakeTun): void {
  tun.onWrite = (p) => {
    const reply = echoReplyFor(p);
    if (reply) setImmediate(() => tun.started && tun.inject(reply));
  };
}

export function createInProcessNode(net: FakeNetwork, lanIp: string, opts: Omit<AgentOptions, 'createTun' | 'createBind' | 'osConfig' | 'interfaces'>): InProcessNode {
  const tun = new FakeTun({ name: 'weft0' });
  answerPings(tun);
  let bind: FakeBind | null = null;
  let interfaces = fakeInterfaces(lanIp);
  const agent = createAgent({
    ...opts,
    createTun: async () => tun,
    createBind: () => (bind = net.bind(node.lanIp)),
    osConfig: noOsConfig,
    interfaces: () => interfaces(),
  });
  const node: InProcessNode = {
    agent,
    tun,
    lanIp,
    moveTo(ip) {
      node.lanIp = ip;
      interfaces = fakeInterfaces(ip);
      if (bind) net.changeAddress(bind, ip);
    },
  };
  return node;
}
