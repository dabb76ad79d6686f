import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { PrivateKey } from '../crypto/keys.js';
import type { RegisterResponse } from '../wire/control.js';
import type { AgentOptions } from './agent-options.js';
import { normalizeUrl } from './agent-options.js';
import { checkServerUrl, ControlClient, fetchServerKey } from './control-client.js';
import { AgentError } from './errors.js';
import type { LocalNetmapSource } from './netmap-source.js';
import { loadOrCreateKey, loadState, pinServerKey, saveState, type PersistedState } from './state.js';

// Who this node is and where it belongs: the key in the state dir, the saved
// registration (null when there is none or it must be redone), and registering with
// the coordinator, which pins the server key it presents.

export interface Identity {
  key: PrivateKey;
  /** The key was created just now. */
  created: boolean;
  state: PersistedState | null;
  serverUrl: string;
}

export interface ClientDeps {
  clock: Clock;
  logger: Logger;
  random: () => number;
}

/** As long as the coordinator keeps a login waiting (control/identity/oidc.ts LOGIN_TTL_MS). */
const LOGIN_WAIT_MS = 10 * 60_000;
const showLoginUrl = (url: string): void => void process.stderr.write(`\nTo authenticate, visit:\n\n\t${url}\n\n`);

export async function loadIdentity(opts: AgentOptions, logger: Logger): Promise<Identity> {
  const { stateDir } = opts;
  const { key, created } = await loadOrCreateKey(stateDir);
  let state = await loadState(stateDir);
  if (state && opts.serverUrl && normalizeUrl(opts.serverUrl) !== state.serverUrl) {
    logger.info({ from: state.serverUrl, to: opts.serverUrl }, 'moving to another coordinator: registering again');
    state = null;
  }
  const serverUrl = opts.serverUrl ?? state?.serverUrl;
  if (state && opts.resetServerKey) state = null; // registers again, pinning the key it presents now
  if (!serverUrl) throw new AgentError('ERR_NEEDS_LOGIN', 'not registered yet: pass --server and --auth-key');
  if (opts.forceReauth && !opts.authKey) throw new AgentError('ERR_NEEDS_LOGIN', '--force-reauth needs a pre-auth key (--auth-key or WEFT_AUTH_KEY)');
  checkServerUrl(serverUrl, opts.insecureHttp ?? false);
  // An identity from before pinning existed: pin the key it registered with.
  if (state) await pinServerKey(stateDir, state.serverUrl, state.serverPublicKey);
  return { key, created, state, serverUrl };
}

/** What `coordinator.url` says in serverless mode (no coordinator, nothing registered). */
export const LOCAL_SOURCE_URL = 'serverless:';

/** Serverless: the node key from the state dir and our node from the local source; no registration. */
export async function localIdentity(stateDir: string, source: LocalNetmapSource): Promise<Identity> {
  const { key, created } = await loadOrCreateKey(stateDir);
  const self = await source.identify(key);
  return { key, created, state: { ...self, serverUrl: LOCAL_SOURCE_URL, serverPublicKey: '' }, serverUrl: LOCAL_SOURCE_URL };
}

export function newControlClient(key: PrivateKey, server: Pick<PersistedState, 'serverUrl' | 'serverPublicKey'>, deps: ClientDeps): ControlClient {
  return new ControlClient({ serverUrl: server.serverUrl, serverPublicKey: server.serverPublicKey, privateKey: key, ...deps });
}

/** Registers (or with forceReauth re-authenticates) at `url` and saves the result. */
export async function registerNode(
  opts: AgentOptions,
  reg: { key: PrivateKey; url: string; listenPort: number; endpoints: string[] },
  deps: ClientDeps & { stopping?: () => boolean },
): Promise<{ state: PersistedState; client: ControlClient }> {
  const serverUrl = normalizeUrl(reg.url);
  const serverPublicKey = await fetchServerKey(serverUrl);
  await pinServerKey(opts.stateDir, serverUrl, serverPublicKey, opts.resetServerKey);
  const client = newControlClient(reg.key, { serverUrl, serverPublicKey }, deps);
  const res = await registerOrLogin(client, opts, {
    hostname: opts.hostname,
    authKey: opts.authKey,
    endpoints: reg.endpoints,
    ...(opts.forceReauth ? { reauth: true } : {}),
  }, deps);
  const state: PersistedState = { serverUrl, serverPublicKey, node: res.node, domain: res.domain, ipv4Range: res.ipv4Range, ipv6Range: res.ipv6Range, listenPort: reg.listenPort };
  await saveState(opts.stateDir, state);
  deps.logger.info({ name: res.node.name, ipv4: res.node.ipv4 }, 'registered');
  return { state, client };
}

// Without a pre-auth key: show the login URL once, then ask again until the login is done
// (the coordinator forgets a login after 10 minutes; so does this loop).
async function registerOrLogin(
  client: ControlClient,
  opts: AgentOptions,
  req: Parameters<ControlClient['register']>[0],
  deps: ClientDeps & { stopping?: () => boolean },
): Promise<RegisterResponse> {
  if (req.authKey) return client.register(req);
  const deadline = deps.clock.now() + LOGIN_WAIT_MS;
  let shown = '';
  for (;;) {
    const res = await client.registerInteractive(req);
    if (!('authUrl' in res)) return res;
    if (res.authUrl !== shown) {
      shown = res.authUrl;
      (opts.onLoginUrl ?? showLoginUrl)(res.authUrl);
    }
    if (deps.stopping?.() || deps.clock.now() > deadline) throw new AgentError('ERR_NEEDS_LOGIN', `nobody completed the login at ${res.authUrl} in time; run weft up again`);
    await new Promise<void>((resolve) => deps.clock.setTimeout(resolve, opts.loginPollMs ?? 1000));
  }
}
