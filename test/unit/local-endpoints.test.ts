import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { endpointsFor, localAddresses } from '../../src/agent/local-endpoints.js';

const addr = (cidr: string, internal = false): NetworkInterfaceInfo => {
  const [address, bits] = cidr.split('/');
  const v6 = address.includes(':');
  return { address, cidr, netmask: '', family: v6 ? 'IPv6' : 'IPv4', mac: '00:00:00:00:00:00', internal, ...(v6 ? { scopeid: 0 } : {}) } as NetworkInterfaceInfo;
};

test('endpoints: IPv4 and global IPv6 go along; loopback, link-local, ULA, multicast, mesh and the mesh interface do not', () => {
  const local = localAddresses(
    () => ({
      lo: [addr('127.0.0.1/8', true), addr('::1/128', true)],
      eth0: [addr('192.168.1.10/24'), addr('2001:db8:1::10/64'), addr('2a01:4f8::5/64'), addr('fe80::1/64'), addr('fd12:3456::7/64'), addr('ff02::1/128')],
      wg0: [addr('100.64.0.1/32'), addr('fd7a:115c:a1e0::1/128')],
      eth1: [addr('100.64.0.9/10'), addr('fd7a:115c:a1e0::9/48')],
    }),
    'wg0',
    ['100.64.0.0/10', 'fd7a:115c:a1e0::/48'],
  );
  assert.deepEqual(endpointsFor(local, 41641), ['192.168.1.10:41641', '[2001:db8:1::10]:41641', '[2a01:4f8::5]:41641']);
});
