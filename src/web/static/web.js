// `weft web`: this device's status, peers with their paths, exit node choice and
// disconnect / connect, through the token-guarded proxy to the agent's local API. All URLs are
// relative, so they keep the token path segment the page was opened with.
const $ = (id) => document.getElementById(id);
const cell = (text, cls) => {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
};

async function call(method, path, body) {
  const res = await fetch(path, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(json.error?.message ?? `HTTP ${res.status}`);
  return json;
}

function say(text, bad = false) {
  $('status').textContent = text;
  $('status').className = bad ? 'error' : 'ok';
}

let selecting = false;
function render(s) {
  $('self-name').textContent = `${s.self.name} (${s.self.ipv4})`;
  $('state').textContent = s.tunnelDown ? 'disconnected' : s.coordinator.connected ? 'connected' : 'coordinator unreachable';
  $('state').className = s.coordinator.connected && !s.tunnelDown ? 'ok' : 'error';
  $('state').dataset.tunnel = s.tunnelDown ? 'down' : 'up';
  $('down').hidden = s.tunnelDown === true;
  $('up').hidden = s.tunnelDown !== true;
  $('self').replaceChildren(
    Object.assign(document.createElement('p'), { textContent: `${s.self.fqdn} · ${s.self.ipv4} · ${s.self.ipv6} · coordinator ${s.coordinator.url}` }),
  );
  const rows = s.peers.map((p) => {
    const tr = document.createElement('tr');
    tr.dataset.peer = p.name;
    tr.dataset.path = p.path;
    const path = p.path === 'relay' ? `relay ${p.relay ?? ''}` : p.path === 'direct' ? `direct ${p.endpoint ?? ''}` : `none (${p.pathReason ?? ''})`;
    tr.append(cell(p.name), cell(p.ipv4), cell(p.online ? 'online' : 'offline', p.online ? 'ok' : ''), cell(path), cell(p.latestHandshake ? new Date(p.latestHandshake).toLocaleString() : '—'));
    return tr;
  });
  $('peers').tBodies[0].replaceChildren(...rows);
  if (!selecting) {
    const sel = $('exit-node');
    const current = s.exitNode?.selected ?? '';
    sel.replaceChildren(sel.options[0], ...s.peers.map((p) => Object.assign(document.createElement('option'), { value: p.name, textContent: p.name })));
    sel.value = current;
  }
  const x = s.exitNode;
  $('exit-state').textContent = x ? `${x.name ?? x.selected}: ${x.state}` : 'none';
  $('exit-state').dataset.state = x ? x.state : 'none';
}

async function refresh() {
  try {
    render(await call('GET', 'api/status'));
  } catch (err) {
    say(err.message, true);
  }
}

$('exit-node').addEventListener('focus', () => (selecting = true));
$('exit-node').addEventListener('blur', () => (selecting = false));
$('exit').addEventListener('submit', async (e) => {
  e.preventDefault();
  selecting = false;
  try {
    render(await call('POST', 'api/prefs', { exitNode: $('exit-node').value }));
    say('exit node changed');
  } catch (err) {
    say(err.message, true);
  }
});
$('down').addEventListener('click', async () => {
  if (!confirm('Disconnect this device from the mesh?')) return;
  try {
    render(await call('POST', 'api/down', {}));
    say('disconnected: no tunnels until you connect again');
  } catch (err) {
    say(err.message, true);
  }
});
$('up').addEventListener('click', async () => {
  try {
    render(await call('POST', 'api/up', {}));
    say('connected');
  } catch (err) {
    say(err.message, true);
  }
});

setInterval(refresh, 2000);
refresh();
