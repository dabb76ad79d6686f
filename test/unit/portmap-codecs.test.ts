// The port-mapping wire codecs against byte layouts written out from the RFC figures
// (RFC 6886 3.2-3.3, RFC 6887 7.1, 7.2, 11.1) and UPnP IGD texts as miniupnpd sends them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeExternalAddressRequest, encodeMapRequest, parseNatPmpResponse } from '../../src/nat/portmap/natpmp.js';
import { encodePcpMapRequest, parsePcpResponse } from '../../src/nat/portmap/pcp.js';
import { encodeMSearch, encodeSoapRequest, parseIgdDescription, parseSoapResponse, parseSsdpResponse } from '../../src/nat/portmap/upnp.js';
import { parseProcNetRoute } from '../../src/nat/portmap/gateway.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

test('NAT-PMP requests: external address is version 0 opcode 0; a UDP map request is 12 bytes', () => {
  assert.deepEqual(encodeExternalAddressRequest(), hex('0000'));
  // vers 0, op 1, reserved, internal 41641 (a2a9), suggested 41641, lifetime 7200 (00001c20)
  assert.deepEqual(encodeMapRequest(41641, 41641, 7200), hex('0001 0000 a2a9 a2a9 00001c20'));
});

test('NAT-PMP responses: address and mapping parsed; error codes kept; junk dropped', () => {
  assert.deepEqual(parseNatPmpResponse(hex('0080 0000 00000e10 c6140b0b')), { op: 0, result: 0, epoch: 3600, address: '198.20.11.11' });
  assert.deepEqual(parseNatPmpResponse(hex('0081 0000 00000e10 a2a9 c350 00001c20')), { op: 1, result: 0, epoch: 3600, internalPort: 41641, externalPort: 50000, lifetimeS: 7200 });
  // refused (2), the short form an error may take
  assert.deepEqual(parseNatPmpResponse(hex('0081 0002 00000001')), { op: 1, result: 2, epoch: 1, internalPort: 0, externalPort: 0, lifetimeS: 0 });
  for (const bad of ['', '0080', '0180 0000 00000e10 c6140b0b', '0000 0000 00000e10 c6140b0b', '0081 0000 00000e10 a2a9', '0082 0000 00000e10 a2a9 c350 00001c20', '0080 0000 00000e10 c6140b'])
    assert.equal(parseNatPmpResponse(hex(bad)), null, bad);
});

const NONCE = hex('0102030405060708090a0b0c');

test('PCP MAP request: header with the client address as ::ffff:a.b.c.d, the 36-byte MAP body', () => {
  const b = encodePcpMapRequest({ nonce: NONCE, clientIp: '192.168.1.10', internalPort: 41641, suggestedExternalPort: 41641, lifetimeS: 7200 });
  assert.deepEqual(
    b,
    hex(
      '02 01 0000 00001c20 00000000000000000000ffff c0a8010a' + // version 2, MAP, lifetime, client IP
        '0102030405060708090a0b0c 11 000000 a2a9 a2a9 00000000000000000000ffff 00000000', // nonce, UDP, ports, no external IP preference
    ),
  );
  assert.throws(() => encodePcpMapRequest({ nonce: NONCE, clientIp: 'fe80::1', internalPort: 1, suggestedExternalPort: 1, lifetimeS: 1 }), { code: 'ERR_INVALID_ARGUMENT' });
});

test('PCP responses: a MAP success with the assigned address; errors keep the code; junk dropped', () => {
  const ok = hex('02 81 00 00 00001c20 00000e10 000000000000000000000000' + '0102030405060708090a0b0c 11 000000 a2a9 c350 00000000000000000000ffff c6140b0b');
  const r = parsePcpResponse(ok)!;
  assert.equal(r.result, 0);
  assert.equal(r.lifetimeS, 7200);
  assert.deepEqual(r.map, { nonce: NONCE, protocol: 17, internalPort: 41641, externalPort: 50000, externalIp: '198.20.11.11' });
  // an option after the body is allowed and ignored
  assert.ok(parsePcpResponse(Uint8Array.from([...ok, 0x01, 0x00, 0x00, 0x00])));
  const refused = parsePcpResponse(hex('02 81 00 02 00000000 00000e10 000000000000000000000000'))!;
  assert.deepEqual([refused.result, refused.map], [2, null]);
  const bad = [
    ok.slice(0, 59), // short MAP
    Uint8Array.from([...ok, 0]), // not a multiple of 4
    Uint8Array.from([0, ...ok.slice(1)]), // version 0
    Uint8Array.from([2, 1, ...ok.slice(2)]), // a request, not a response
    new Uint8Array(1104).fill(0).map((_, i) => (i === 0 ? 2 : i === 1 ? 0x81 : 0)), // too long
    hex('02 81 00 00 00001c20 00000e10 000000000000000000000000' + '0102030405060708090a0b0c 11 000000 a2a9 c350 20010db8000000000000000000000001'), // IPv6 external
  ];
  for (const b of bad) assert.equal(parsePcpResponse(b), null);
});

test('SSDP: M-SEARCH for an IGD; the LOCATION of a 200 answer; anything else dropped', () => {
  const m = new TextDecoder().decode(encodeMSearch());
  assert.match(m, /^M-SEARCH \* HTTP\/1\.1\r\nHOST: 239\.255\.255\.250:1900\r\n/);
  assert.match(m, /\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n/);
  assert.match(m, /\r\nMAN: "ssdp:discover"\r\n.*\r\n\r\n$/s);
  const answer = 'HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nUSN: uuid:x::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nEXT:\r\nSERVER: Debian/12 UPnP/1.1 MiniUPnPd/2.3.1\r\nLOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n\r\n';
  assert.deepEqual(parseSsdpResponse(text(answer)), { location: 'http://192.168.1.1:5000/rootDesc.xml', st: 'urn:schemas-upnp-org:device:InternetGatewayDevice:1' });
  for (const bad of ['NOTIFY * HTTP/1.1\r\nLOCATION: http://x/\r\n\r\n', 'HTTP/1.1 200 OK\r\nST: x\r\n\r\n', 'HTTP/1.1 200 OK\r\nLOCATION: file:///etc/passwd\r\n\r\n', answer + 'X'.repeat(3000)])
    assert.equal(parseSsdpResponse(text(bad)), null);
});

test('IGD description: the WAN connection service and its controlURL (WANIPConnection preferred)', () => {
  const svc = (type: string, ctl: string) => `<service><serviceType>${type}</serviceType><serviceId>x</serviceId><controlURL>${ctl}</controlURL><eventSubURL>/evt</eventSubURL></service>`;
  const xml = `<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><device><serviceList>${svc('urn:schemas-upnp-org:service:Layer3Forwarding:1', '/L3F')}</serviceList><deviceList><device><deviceList><device><serviceList>${svc('urn:schemas-upnp-org:service:WANPPPConnection:1', '/ppp')}${svc('urn:schemas-upnp-org:service:WANIPConnection:1', '/ctl/IPConn')}</serviceList></device></deviceList></device></deviceList></device></root>`;
  assert.deepEqual(parseIgdDescription(xml), { serviceType: 'urn:schemas-upnp-org:service:WANIPConnection:1', controlUrl: '/ctl/IPConn' });
  assert.equal(parseIgdDescription(`<root>${svc('urn:schemas-upnp-org:service:Layer3Forwarding:1', '/L3F')}</root>`), null);
  assert.equal(parseIgdDescription('<root><service>' + 'x'.repeat(70_000) + '</service></root>'), null);
});

test('SOAP: the request envelope escapes arguments; answers give out-arguments or the fault code', () => {
  const st = 'urn:schemas-upnp-org:service:WANIPConnection:1';
  const req = encodeSoapRequest(st, 'AddPortMapping', [['NewRemoteHost', ''], ['NewExternalPort', 41641], ['NewPortMappingDescription', 'a<b&c']]);
  assert.match(req, /<s:Body><u:AddPortMapping xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1"><NewRemoteHost><\/NewRemoteHost><NewExternalPort>41641<\/NewExternalPort><NewPortMappingDescription>a&lt;b&amp;c<\/NewPortMappingDescription><\/u:AddPortMapping><\/s:Body>/);
  const ok = `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:GetExternalIPAddressResponse xmlns:u="${st}"><NewExternalIPAddress>198.20.11.11</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>`;
  assert.deepEqual(parseSoapResponse(ok, 'GetExternalIPAddress', ['NewExternalIPAddress']), { ok: true, values: { NewExternalIPAddress: '198.20.11.11' } });
  const fault = '<s:Envelope><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>718</errorCode><errorDescription>ConflictInMappingEntry</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>';
  assert.deepEqual(parseSoapResponse(fault, 'AddPortMapping', []), { ok: false, errorCode: 718 });
  assert.equal(parseSoapResponse(ok, 'AddPortMapping', []), null, 'an answer to another action');
  assert.equal(parseSoapResponse(ok.replace(/<NewExternalIPAddress>.*<\/NewExternalIPAddress>/, ''), 'GetExternalIPAddress', ['NewExternalIPAddress']), null);
});

test('/proc/net/route: the gateway of the default route (little-endian hex)', () => {
  const t = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' +
    'eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n' +
    'eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n';
  assert.equal(parseProcNetRoute(t), '192.168.1.1');
  assert.equal(parseProcNetRoute(t.split('\n').slice(0, 2).join('\n')), null);
  assert.equal(parseProcNetRoute(''), null);
});
