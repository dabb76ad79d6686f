// The UPnP IGD client against a fake gateway on loopback (SSDP responder + HTTP device
// description and SOAP control): maps, renews, deletes; takes a random port after
// ConflictInMappingEntry; refuses LOCATION or control URLs that leave the gateway.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UpnpClient } from '../../src/nat/portmap/upnp.js';
import { newPortMapStats } from '../../src/nat/portmap/types.js';

const ST = 'urn:schemas-upnp-org:service:WANIPConnection:1';

async function body(req: IncomingMessage): Promise<string> {
  let s = '';
  for await (const c of req) s += c;
  return s;
}

async function fakeIgd(opts: { location?: (port: number) => string; controlUrl?: string; conflictFirst?: boolean } = {}) {
  const calls: { action: string; body: string }[] = [];
  let conflict = opts.conflictFirst ?? false;
  const http = createServer(async (req, res) => {
    if (req.method === 'GET') {
      res.end(`<?xml version="1.0"?><root><device><serviceList><service><serviceType>${ST}</serviceType><controlURL>${opts.controlUrl ?? '/ctl/IPConn'}</controlURL></service></serviceList></device></root>`);
      return;
    }
    const action = /#(\w+)"/.exec(String(req.headers.soapaction))![1];
    const b = await body(req);
    calls.push({ action, body: b });
    if (action === 'AddPortMapping' && conflict) {
      conflict = false;
      res.statusCode = 500;
      res.end('<s:Envelope><s:Body><s:Fault><detail><UPnPError><errorCode>718</errorCode></UPnPError></detail></s:Fault></s:Body></s:Envelope>');
      return;
    }
    const out = action === 'GetExternalIPAddress' ? '<NewExternalIPAddress>198.20.0.11</NewExternalIPAddress>' : '';
    res.end(`<s:Envelope><s:Body><u:${action}Response xmlns:u="${ST}">${out}</u:${action}Response></s:Body></s:Envelope>`);
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const httpPort = (http.address() as AddressInfo).port;
  const ssdp = createSocket('udp4');
  ssdp.bind(0, '127.0.0.1');
  await once(ssdp, 'listening');
  const stranger = createSocket('udp4');
  stranger.bind(0, '127.0.0.2');
  await once(stranger, 'listening');
  ssdp.on('message', (m, r) => {
    if (!m.toString().startsWith('M-SEARCH')) return;
    // a LAN host races the gateway with its own LOCATION; only the gateway's is taken
    stranger.send(`HTTP/1.1 200 OK\r\nST: x\r\nLOCATION: http://127.0.0.2:${httpPort}/evil.xml\r\n\r\n`, r.port, r.address);
    const loc = opts.location ? opts.location(httpPort) : `http://127.0.0.1:${httpPort}/rootDesc.xml`;
    setTimeout(() => ssdp.send(`HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: ${loc}\r\n\r\n`, r.port, r.address), 20);
  });
  return {
    calls,
    ssdpPort: ssdp.address().port,
    close: () => {
      http.close();
      ssdp.close();
      stranger.close();
    },
  };
}

test('UPnP client: discovers, maps, renews on the same port, deletes', async () => {
  const g = await fakeIgd();
  const stats = newPortMapStats();
  try {
    const c = new UpnpClient({ gatewayIp: '127.0.0.1', localIp: '127.0.0.1', stats, ssdpPort: g.ssdpPort });
    assert.deepEqual(await c.map(41641, 7200), { protocol: 'upnp', external: '198.20.0.11:41641', internalPort: 41641, lifetimeS: 7200 });
    assert.equal(stats.foreign, 1, 'the stranger\'s answer was not taken');
    await c.map(41641, 7200);
    await c.unmap();
    assert.deepEqual(g.calls.map((x) => x.action), ['GetExternalIPAddress', 'AddPortMapping', 'GetExternalIPAddress', 'AddPortMapping', 'DeletePortMapping']);
    const add = g.calls[1].body;
    for (const s of ['<NewExternalPort>41641</NewExternalPort>', '<NewProtocol>UDP</NewProtocol>', '<NewInternalClient>127.0.0.1</NewInternalClient>', '<NewLeaseDuration>7200</NewLeaseDuration>']) assert.ok(add.includes(s), s);
    assert.ok(g.calls[4].body.includes('<NewExternalPort>41641</NewExternalPort>'));
  } finally {
    g.close();
  }
});

test('UPnP client: ConflictInMappingEntry moves to another external port once', async () => {
  const g = await fakeIgd({ conflictFirst: true });
  try {
    const c = new UpnpClient({ gatewayIp: '127.0.0.1', localIp: '127.0.0.1', stats: newPortMapStats(), ssdpPort: g.ssdpPort });
    const m = await c.map(41641, 7200);
    const port = Number(m.external.split(':')[1]);
    assert.ok(port >= 1024 && port <= 65535);
    assert.ok(g.calls[2].body.includes(`<NewExternalPort>${port}</NewExternalPort>`));
  } finally {
    g.close();
  }
});

test('UPnP client: a LOCATION or controlURL off the gateway is refused', async () => {
  for (const o of [{ location: (p: number) => `http://127.0.0.2:${p}/rootDesc.xml` }, { controlUrl: 'http://127.0.0.2:1/ctl' }]) {
    const g = await fakeIgd(o);
    const stats = newPortMapStats();
    try {
      const c = new UpnpClient({ gatewayIp: '127.0.0.1', localIp: '127.0.0.1', stats, ssdpPort: g.ssdpPort });
      await assert.rejects(c.map(41641, 7200), { code: /^ERR_PORTMAP_(UNSUPPORTED|TIMEOUT)$/ });
      assert.deepEqual(g.calls, [], 'no SOAP request sent anywhere');
      assert.ok(stats.malformed >= 1);
    } finally {
      g.close();
    }
  }
});
