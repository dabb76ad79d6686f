// Handshakes per second on one core: a full Noise_IKpsk2 exchange (initiation with
// MACs, responder checks mac1, consumes and answers, both derive session keys), run
// for a bounded time and count. Prints the median of several rounds.
import { FakeClock } from '../src/clock.js';
import { generatePrivateKey, publicKeyFromPrivate } from '../src/crypto/keys.js';
import { CookieChecker, CookieGenerator } from '../src/wireguard/cookie.js';
import {
  Handshake,
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  deriveSessionKeys,
} from '../src/wireguard/noise-protocol.js';
import { tai64n } from '../src/wireguard/tai64n.js';

const ROUNDS = 5;
const ROUND_MS = 1_500;
const MAX_PER_ROUND = 100_000;

const clock = new FakeClock();
const iPriv = generatePrivateKey();
const rPriv = generatePrivateKey();
const initiator = { privateKey: iPriv, publicKey: publicKeyFromPrivate(iPriv) };
const responder = { privateKey: rPriv, publicKey: publicKeyFromPrivate(rPriv) };
const iHs = new Handshake(responder.publicKey);
iHs.setIdentity(initiator);
const rHs = new Handshake(initiator.publicKey);
rHs.setIdentity(responder);
const gen = new CookieGenerator(responder.publicKey, clock);
const rGen = new CookieGenerator(initiator.publicKey, clock);
const checkerR = new CookieChecker(responder.publicKey, clock);
const checkerI = new CookieChecker(initiator.publicKey, clock);

function one(n: number): void {
  iHs.localIndex = n;
  const init = createInitiation(initiator, iHs, n, tai64n(clock.wallNow()))!;
  gen.addMacs(init);
  if (!checkerR.checkMAC1(init)) throw new Error('mac1');
  const hs = consumeInitiation(responder, init, () => rHs, clock.now());
  if (!hs) throw new Error('consume initiation');
  hs.localIndex = n + 1;
  const resp = createResponse(responder, hs, n + 1)!;
  rGen.addMacs(resp);
  if (!deriveSessionKeys(hs)) throw new Error('responder keys');
  if (!checkerI.checkMAC1(resp)) throw new Error('mac1 response');
  const ih = consumeResponse(initiator, resp, () => iHs);
  if (!ih || !deriveSessionKeys(ih)) throw new Error('initiator keys');
  clock.advance(21); // the responder accepts at most one initiation per 20 ms per peer
}

const rates: number[] = [];
let n = 2;
for (let r = 0; r < ROUNDS; r++) {
  const t0 = performance.now();
  let count = 0;
  while (performance.now() - t0 < ROUND_MS && count < MAX_PER_ROUND) {
    one(n);
    n += 2;
    count++;
  }
  rates.push(count / ((performance.now() - t0) / 1000));
}
rates.sort((a, b) => a - b);
const median = rates[Math.floor(rates.length / 2)];
console.log(`handshakes/s (one core, full exchange, both sides): median ${median.toFixed(0)} over ${ROUNDS} rounds [${rates.map((x) => x.toFixed(0)).join(', ')}]`);
