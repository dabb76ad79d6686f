// Every parser of untrusted input, as a fuzz target: `run` feeds it one input and
// returns normally for anything it rejects the documented way (null, false, or a
// WeftError with a code); anything else thrown is a bug. Used by the corpus replay and
// mutation fuzzing in test/unit/fuzz-corpus.test.ts and by seed.ts, which writes the
// seed corpus under test/fuzz/corpus/<target>/.
import { FakeClock } from '../../src/clock.js';
import { generatePrivateKey, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { WeftError } from '../../src/errors.js';
import { parseEcho } from '../../src/agent/icmp.js';
import { parseClientMessage, parseServerMessage } from '../../src/wire/decode.js';
import { parseStatusReport } from '../../src/control/node-reports.js';
import { parseEndpoints } from '../../src/control/endpoints.js';
import { parseRoutes } from '../../src/control/routes.js';
import { parseResumePoint } from '../../src/control/change-log.js';
import { parseRequest } from '../../src/netstack/socks5.js';
import { parseNodeAuth } from '../../src/wire/node-auth.js';
import { DiscoKeys, isDiscoPacket, openDisco, parseDiscoPlaintext } from '../../src/nat/disco.js';
import { isStunPacket, parseStun } from '../../src/nat/stun.js';
import { parseNatPmpResponse } from '../../src/nat/portmap/natpmp.js';
import { parsePcpResponse } from '../../src/nat/portmap/pcp.js';
import { parseIgdDescription, parseSoapResponse, parseSsdpResponse } from '../../src/nat/portmap/upnp.js';
import { parsePolicy } from '../../src/policy/parse.js';
import { parseFrame } from '../../src/wire/relay.js';
import { CookieChecker, CookieGenerator } from '../../src/wireguard/cookie.js';
import { messageType, MessageType } from '../../src/wireguard/messages.js';
import { consumeInitiation, consumeResponse, Handshake } from '../../src/wireguard/noise-protocol.js';
import { parseSet } from '../../src/wireguard/uapi.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { privateKeyFromBytes } from '../../src/crypto/keys.js';
import { decodeRevocation } from '../../src/serverless/revocation-file.js';
import { GossipSealer, parseIam } from '../../src/serverless/seal.js';
import { keyId } from '../../src/serverless/trust.js';
import { decodePlaintext } from '../../src/serverless/wire.js';

export interface FuzzTarget {
  /** Folder name under test/fuzz/corpus/. */
  name: string;
  run(input: Uint8Array): void;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const SRC = Endpoint.of('198.51.100.7', 40000).bytes;

/** A parser that reports bad input by throwing must throw a WeftError with a code. */
function typedErrorsOnly(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof WeftError) || !err.code) throw err;
  }
}

export function fuzzTargets(): FuzzTarget[] {
  const priv = generatePrivateKey();
  const pub = publicKeyFromPrivate(priv);
  const identity = { privateKey: priv, publicKey: pub };
  const clock = new FakeClock();
  const checker = new CookieChecker(pub, clock);
  const generator = new CookieGenerator(pub, clock);
  const handshake = new Handshake(publicKeyFromPrivate(generatePrivateKey()));
  handshake.setIdentity(identity);
  const disco = new DiscoKeys(priv, pub);
  // Gossip seeds are sealed from fixed key 1 to fixed key 2 (seed.ts), so mutations of
  // them reach the authentication and the decoder behind it.
  const gossipPriv = privateKeyFromBytes(new Uint8Array(32).fill(2));
  const gossip = new GossipSealer(gossipPriv, publicKeyFromPrivate(gossipPriv));
  const gossipPeer = keyId(publicKeyFromPrivate(privateKeyFromBytes(new Uint8Array(32).fill(1))));
  return [
    {
      name: 'wireguard-message',
      run(b) {
        const type = messageType(b);
        checker.checkMAC1(b);
        checker.checkMAC2(b, SRC);
        if (type === MessageType.Initiation) consumeInitiation(identity, b, () => handshake, clock.now());
        else if (type === MessageType.Response) consumeResponse(identity, b, () => handshake);
        else if (type === MessageType.CookieReply) generator.consumeReply(b);
      },
    },
    {
      name: 'disco',
      run(b) {
        isDiscoPacket(b);
        openDisco(disco, b);
        parseDiscoPlaintext(b);
      },
    },
    {
      name: 'stun',
      run(b) {
        isStunPacket(b);
        parseStun(b);
      },
    },
    {
      // What the gateway (or a LAN host pretending to be it) answers a port-mapping client.
      name: 'portmap',
      run(b) {
        parseNatPmpResponse(b);
        parsePcpResponse(b);
        parseSsdpResponse(b);
        const t = utf8.decode(b);
        parseIgdDescription(t);
        parseSoapResponse(t, 'AddPortMapping', []);
        parseSoapResponse(t, 'GetExternalIPAddress', ['NewExternalIPAddress']);
      },
    },
    { name: 'relay-frame', run: (b) => void parseFrame(b) },
    { name: 'icmp-echo', run: (b) => void parseEcho(b) },
    { name: 'server-message', run: (b) => void parseServerMessage(utf8.decode(b)) },
    { name: 'node-auth', run: (b) => void parseNodeAuth(utf8.decode(b)) },
    {
      // What the coordinator takes from a node's map stream: the shape, then each field.
      name: 'client-message',
      run(b) {
        const m = parseClientMessage(utf8.decode(b));
        if ('error' in m || m.type === 'ping') return;
        if (m.type === 'status') typedErrorsOnly(() => parseStatusReport(m.version, m.paths));
        else if (m.type === 'endpoints') typedErrorsOnly(() => parseEndpoints(m.endpoints));
        else typedErrorsOnly(() => parseRoutes(m.routes));
      },
    },
    { name: 'socks5-request', run: (b) => void parseRequest(Buffer.from(b)) },
    { name: 'resume-point', run: (b) => void parseResumePoint(utf8.decode(b)) },
    { name: 'uapi-set', run: (b) => typedErrorsOnly(() => parseSet(utf8.decode(b).split('\n'))) },
    { name: 'policy', run: (b) => typedErrorsOnly(() => parsePolicy(utf8.decode(b))) },
    {
      name: 'gossip',
      run(b) {
        gossip.open(b, (id) => id === gossipPeer, Date.UTC(2026, 0, 1));
        decodePlaintext(b);
        parseIam(b);
        decodeRevocation(Buffer.from(b).toString('base64'));
      },
    },
  ];
}
