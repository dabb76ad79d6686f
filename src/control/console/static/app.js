import { api, setCsrf, whenLoggedOut } from './api.js';
import { closeEvents } from './events.js';
import * as nodes from './pages/nodes.js';
import * as keys from './pages/keys.js';
import * as routes from './pages/routes.js';
import * as policy from './pages/policy.js';
import * as relays from './pages/relays.js';
import * as audit from './pages/audit.js';
import * as topology from './pages/topology.js';

// The console shell: login, navigation by URL hash, one page mounted at a time.
const PAGES = { nodes, keys, routes, policy, relays, audit, topology };
const $ = (id) => document.getElementById(id);
let cleanup = null;

// "Sign in with <provider>" links, when the server has an OIDC provider for the console.
async function showProviders() {
  const { providers } = await api('GET', '/admin/login/providers').catch(() => ({ providers: [] }));
  $('providers').replaceChildren(...providers.map((p) => {
    const a = document.createElement('a');
    a.href = p.url;
    a.className = 'provider';
    a.textContent = `Sign in with ${p.name}`;
    return a;
  }));
}

function showLogin(message = '') {
  closeEvents();
  cleanup?.();
  cleanup = null;
  $('view').replaceChildren();
  $('nav').hidden = true;
  $('logout').hidden = true;
  $('who').textContent = '';
  $('login').hidden = false;
  $('login-error').textContent = message;
  $('secret').focus();
  void showProviders();
}

function loggedIn(session) {
  setCsrf(session.csrf);
  $('login').hidden = true;
  $('nav').hidden = false;
  $('logout').hidden = false;
  $('who').textContent = session.actor;
  route();
}

async function route() {
  if ($('nav').hidden) return;
  const name = location.hash.slice(1) || 'nodes';
  const page = PAGES[name] ?? nodes;
  cleanup?.();
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.getAttribute('href') === `#${name}`);
  const root = $('view');
  root.replaceChildren();
  root.dataset.page = name;
  cleanup = (await page.mount(root)) ?? null;
}

$('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    const login = $('login-name').value.trim();
    const body = login ? { method: 'password', login, secret: $('secret').value } : { method: 'apikey', secret: $('secret').value };
    const s = await api('POST', '/admin/login', body);
    $('secret').value = '';
    loggedIn(s);
  } catch (err) {
    $('login-error').textContent = err.message;
  }
});

$('logout').addEventListener('click', async () => {
  await api('POST', '/admin/logout').catch(() => {});
  showLogin('Logged out.');
});

whenLoggedOut(() => showLogin('Your session has ended; log in again.'));
addEventListener('hashchange', route);
api('GET', '/admin/session').then(loggedIn, () => showLogin());
