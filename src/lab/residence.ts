import { rmSync } from 'node:fs';
import type { Lab } from './netns.js';
import { readPcapUdp, type UdpPacket } from './pcap.js';
import { AEAD_TAG_LEN } from '../crypto/aead.js';
import { MESSAGE_TRANSPORT_HEADER_SIZE, MessageType } from '../wireguard/messages.js';

// How long a WireGuard host keeps a peer's request before its answer leaves, from a
// capture on the host's link: each transport message with a payload from the peer,
// paired with the next one back. For a ping through the tunnel that is the host's whole
// share of the round trip (its engine's receive, the kernel's echo, its engine's send),
// without the peer's. Keepalives (no payload) are not requests.

/** A transport message's header and tag: a keepalive is exactly this. */
const KEEPALIVE_SIZE = MESSAGE_TRANSPORT_HEADER_SIZE + AEAD_TAG_LEN;

export interface Residence {
  /** When the request reached the host's link (capture time, s). */
  at: number;
  ms: number;
}

const isData = (p: UdpPacket): boolean => p.payload.length > KEEPALIVE_SIZE && p.payload[0] === MessageType.Transport;

/** Requests from `peer` to `host` paired with `host`'s next data back; an unanswered request is dropped. */
export function residences(packets: readonly UdpPacket[], host: string, peer: string): Residence[] {
  const out: Residence[] = [];
  let pending: number | null = null;
  for (const p of packets) {
    if (!isData(p)) continue;
    if (p.src === peer && p.dst === host) pending = p.ts;
    else if (p.src === host && p.dst === peer && pending !== null) {
      out.push({ at: pending, ms: (p.ts - pending) * 1000 });
      pending = null;
    }
  }
  return out;
}

/** A running capture of one peer's UDP on a host's link (tcpdump in the host's namespace). */
export interface ResidenceCapture {
  /** Ends the capture and pairs what it saw. */
  stop(): Promise<Residence[]>;
}

export async function captureResidences(lab: Lab, ns: string, dev: string, host: string, peer: string, file: string): Promise<ResidenceCapture> {
  const dump = lab.spawn(ns, ['tcpdump', '-i', dev, '-n', '-U', '-w', file, 'udp', 'and', 'host', peer]);
  await dump.waitFor(/listening on/, 10_000, 'stderr');
  return {
    async stop() {
      await dump.kill('SIGTERM');
      try {
        return residences(readPcapUdp(file), host, peer);
      } finally {
        rmSync(file, { force: true });
      }
    },
  };
}
