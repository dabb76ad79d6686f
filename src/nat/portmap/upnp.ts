import { createSocket } from 'node:dgram';
import { request } from 'node:http';
import { systemClock, type Clock } from '../../clock.js';
import { PortMapError, type PortMapClient, type PortMapping, type PortMapStats } from './types.js';

// UPnP IGD: SSDP discovery (UPnP Device Architecture 1.1, 1.3.2: M-SEARCH over UDP to
// 239.255.255.250:1900, and unicast to the gateway) answered with a LOCATION URL; the
// device description (XML) names the WANIPConnection (or WANPPPConnection) service and
// its controlURL; SOAP actions GetExternalIPAddress, AddPortMapping and
// DeletePortMapping (WANIPConnection:1 service spec, 2.4). Only answers from the
// gateway's address are taken and every URL must point at it; bodies are size-bounded.

export const SSDP_PORT = 1900;
export const SSDP_MULTICAST = '239.255.255.250';
export const IGD_DEVICE = 'urn:schemas-upnp-org:device:InternetGatewayDevice:1';
export const WAN_SERVICES = [
  'urn:schemas-upnp-org:service:WANIPConnection:2',
  'urn:schemas-upnp-org:service:WANIPConnection:1',
  'urn:schemas-upnp-org:service:WANPPPConnection:1',
];
export const MAX_SSDP_LEN = 2048;
export const MAX_HTTP_BODY = 64 * 1024;
export const UPNP_TIMEOUT_MS = 2000;
/** AddPortMapping fault: the external port is mapped to another client already. */
export const UPNP_CONFLICT_IN_MAPPING_ENTRY = 718;
const DESCRIPTION = 'weft';

export function encodeMSearch(host = `${SSDP_MULTICAST}:${SSDP_PORT}`): Uint8Array {
  return new TextEncoder().encode(`M-SEARCH * HTTP/1.1\r\nHOST: ${host}\r\nST: ${IGD_DEVICE}\r\nMAN: "ssdp:discover"\r\nMX: 1\r\n\r\n`);
}

/** The LOCATION of an SSDP search response (`HTTP/1.1 200 OK` and headers), or null. */
export function parseSsdpResponse(b: Uint8Array): { location: string; st: string } | null {
  if (b.length > MAX_SSDP_LEN) return null;
  const lines = new TextDecoder().decode(b).split('\r\n');
  if (!/^HTTP\/1\.[01] 200\b/.test(lines[0] ?? '')) return null;
  const h = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) h.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
  }
  const location = h.get('location');
  if (!location || !/^http:\/\//i.test(location)) return null;
  return { location, st: h.get('st') ?? '' };
}

const unescapeXml = (s: string): string =>
  s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The text of the first `<tag>` (any namespace prefix) in `xml`, unescaped. */
function tagText(xml: string, tag: string): string | null {
  const m = new RegExp(`<(?:[\\w-]+:)?${tag}(?:\\s[^>]*)?>([^<]*)</(?:[\\w-]+:)?${tag}>`).exec(xml);
  return m ? unescapeXml(m[1].trim()) : null;
}

/** The WAN connection service of an IGD description: the preferred type and its controlURL. */
export function parseIgdDescription(xml: string): { serviceType: string; controlUrl: string } | null {
  if (xml.length > MAX_HTTP_BODY) return null;
  const found: { serviceType: string; controlUrl: string }[] = [];
  for (const m of xml.matchAll(/<service>([\s\S]*?)<\/service>/g)) {
    const serviceType = tagText(m[1], 'serviceType');
    const controlUrl = tagText(m[1], 'controlURL');
    if (serviceType && controlUrl && WAN_SERVICES.includes(serviceType)) found.push({ serviceType, controlUrl });
  }
  found.sort((a, b) => WAN_SERVICES.indexOf(a.serviceType) - WAN_SERVICES.indexOf(b.serviceType));
  return found[0] ?? null;
}

export function encodeSoapRequest(serviceType: string, action: string, args: [string, string | number][]): string {
  const body = args.map(([k, v]) => `<${k}>${escapeXml(String(v))}</${k}>`).join('');
  return (
    '<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">' +
    `<s:Body><u:${action} xmlns:u="${serviceType}">${body}</u:${action}></s:Body></s:Envelope>`
  );
}

export type SoapResult = { ok: true; values: Record<string, string> } | { ok: false; errorCode: number };

/** A SOAP answer to `action`: its out-arguments, or the UPnPError code of a fault; null if neither. */
export function parseSoapResponse(xml: string, action: string, outArgs: string[]): SoapResult | null {
  if (xml.length > MAX_HTTP_BODY) return null;
  if (/<(?:[\w-]+:)?Fault>/.test(xml)) {
    const code = Number(tagText(xml, 'errorCode'));
    return Number.isInteger(code) ? { ok: false, errorCode: code } : null;
  }
  if (!new RegExp(`<(?:[\\w-]+:)?${action}Response[\\s>/]`).test(xml)) return null;
  const values: Record<string, string> = {};
  for (const a of outArgs) {
    const v = tagText(xml, a);
    if (v === null) return null;
    values[a] = v;
  }
  return { ok: true, values };
}

export interface UpnpClientOptions {
  gatewayIp: string;
  localIp: string;
  stats: PortMapStats;
  clock?: Clock;
  /** Where the gateway answers SSDP (default 1900; tests use another). */
  ssdpPort?: number;
}

/** HTTP to the gateway only; the body up to MAX_HTTP_BODY, else an error. */
function http(url: URL, method: string, headers: Record<string, string>, body: string | null): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, timeout: UPNP_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      let n = 0;
      res.on('data', (c: Buffer) => {
        n += c.length;
        if (n > MAX_HTTP_BODY) req.destroy(new PortMapError('ERR_PORTMAP_BAD_RESPONSE', 'UPnP answer too large'));
        else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new PortMapError('ERR_PORTMAP_TIMEOUT', `no answer from ${url.host}`)));
    // `timeout` is per idle gap; this bounds the whole exchange (a slow-dripping answer)
    const deadline = setTimeout(() => req.destroy(new PortMapError('ERR_PORTMAP_TIMEOUT', `${url.host} too slow`)), 2 * UPNP_TIMEOUT_MS);
    req.on('close', () => clearTimeout(deadline));
    req.on('error', (err) => reject(err instanceof PortMapError ? err : new PortMapError('ERR_PORTMAP_TIMEOUT', err.message, { cause: err })));
    req.end(body ?? undefined);
  });
}

export class UpnpClient implements PortMapClient {
  readonly name = 'upnp';
  private service: { serviceType: string; control: URL } | null = null;
  private last: { externalPort: number } | null = null;

  constructor(private readonly o: UpnpClientOptions) {}

  /** A URL that points at the gateway, else null (a LAN host must not steer us elsewhere). */
  private gatewayUrl(u: string, base?: string): URL | null {
    try {
      const url = new URL(u, base);
      return url.protocol === 'http:' && url.hostname === this.o.gatewayIp ? url : null;
    } catch {
      return null;
    }
  }

  /** SSDP search: the gateway's LOCATION, or null after UPNP_TIMEOUT_MS. */
  private discover(): Promise<URL | null> {
    const clock = this.o.clock ?? systemClock;
    return new Promise((resolve) => {
      const sock = createSocket('udp4');
      const done = (v: URL | null): void => {
        clock.clearTimeout(timer);
        sock.close();
        resolve(v);
      };
      const timer = clock.setTimeout(() => {
        this.o.stats.timeouts++;
        done(null);
      }, UPNP_TIMEOUT_MS);
      sock.on('error', () => done(null));
      sock.on('message', (msg, rinfo) => {
        if (rinfo.address !== this.o.gatewayIp) {
          this.o.stats.foreign++;
          return;
        }
        const r = parseSsdpResponse(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
        const url = r ? this.gatewayUrl(r.location) : null;
        if (url) done(url);
        else this.o.stats.malformed++;
      });
      sock.bind({ address: this.o.localIp, port: 0 }, () => {
        const port = this.o.ssdpPort ?? SSDP_PORT;
        sock.send(encodeMSearch(`${this.o.gatewayIp}:${port}`), port, this.o.gatewayIp, () => {});
        if (port === SSDP_PORT) sock.send(encodeMSearch(), SSDP_PORT, SSDP_MULTICAST, () => {});
      });
    });
  }

  private async findService(): Promise<{ serviceType: string; control: URL }> {
    if (this.service) return this.service;
    const location = await this.discover();
    if (!location) throw new PortMapError('ERR_PORTMAP_UNSUPPORTED', 'no UPnP IGD answered on the gateway');
    const desc = await http(location, 'GET', {}, null);
    const svc = desc.status === 200 ? parseIgdDescription(desc.body) : null;
    const control = svc ? this.gatewayUrl(svc.controlUrl, location.href) : null;
    if (!svc || !control) {
      this.o.stats.malformed++;
      throw new PortMapError('ERR_PORTMAP_UNSUPPORTED', 'gateway description has no usable WAN connection service');
    }
    this.service = { serviceType: svc.serviceType, control };
    return this.service;
  }

  /** The action's out-arguments, or the UPnPError code of a fault. */
  private async soap(action: string, args: [string, string | number][], outArgs: string[]): Promise<Record<string, string> | number> {
    const svc = await this.findService();
    const body = encodeSoapRequest(svc.serviceType, action, args);
    const headers = { 'Content-Type': 'text/xml; charset="utf-8"', SOAPAction: `"${svc.serviceType}#${action}"`, 'Content-Length': String(Buffer.byteLength(body)) };
    const res = await http(svc.control, 'POST', headers, body);
    const r = parseSoapResponse(res.body, action, outArgs);
    if (!r) {
      this.o.stats.malformed++;
      throw new PortMapError('ERR_PORTMAP_BAD_RESPONSE', `UPnP ${action}: unreadable answer (HTTP ${res.status})`);
    }
    return r.ok ? r.values : r.errorCode;
  }

  private async must(action: string, args: [string, string | number][], outArgs: string[]): Promise<Record<string, string>> {
    const r = await this.soap(action, args, outArgs);
    if (typeof r === 'number') throw new PortMapError('ERR_PORTMAP_REFUSED', `UPnP ${action}: error ${r}`);
    return r;
  }

  private add(externalPort: number, internalPort: number, lifetimeS: number): Promise<Record<string, string> | number> {
    return this.soap(
      'AddPortMapping',
      [
        ['NewRemoteHost', ''],
        ['NewExternalPort', externalPort],
        ['NewProtocol', 'UDP'],
        ['NewInternalPort', internalPort],
        ['NewInternalClient', this.o.localIp],
        ['NewEnabled', 1],
        ['NewPortMappingDescription', DESCRIPTION],
        ['NewLeaseDuration', lifetimeS],
      ],
      [],
    );
  }

  async map(internalPort: number, lifetimeS: number): Promise<PortMapping> {
    const { NewExternalIPAddress: ip } = await this.must('GetExternalIPAddress', [], ['NewExternalIPAddress']);
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip) || ip === '0.0.0.0') throw new PortMapError('ERR_PORTMAP_BAD_RESPONSE', `UPnP external address ${JSON.stringify(ip)}`);
    let externalPort = this.last?.externalPort ?? internalPort;
    let r = await this.add(externalPort, internalPort, lifetimeS);
    if (r === UPNP_CONFLICT_IN_MAPPING_ENTRY) {
      // another LAN host holds that port: one more try on a random one
      externalPort = 1024 + Math.floor(Math.random() * (65536 - 1024));
      r = await this.add(externalPort, internalPort, lifetimeS);
    }
    if (typeof r === 'number') throw new PortMapError('ERR_PORTMAP_REFUSED', `UPnP AddPortMapping: error ${r}`);
    this.last = { externalPort };
    return { protocol: this.name, external: `${ip}:${externalPort}`, internalPort, lifetimeS };
  }

  async unmap(): Promise<void> {
    if (!this.last) return;
    const { externalPort } = this.last;
    this.last = null;
    await this.must('DeletePortMapping', [['NewRemoteHost', ''], ['NewExternalPort', externalPort], ['NewProtocol', 'UDP']], []);
  }
}
