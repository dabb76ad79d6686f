import { api } from '../api.js';
import { h } from '../dom.js';
import { subscribe } from '../events.js';

// Live topology: nodes on a ring around the relays, coloured by online/offline/expired;
// a solid line for each direct path and a dashed one to the relay for each node that
// reaches a peer through it, as the agents report (or the embedded relay lists them).
// Node events from the live stream recolour one circle; adds and removes re-lay the
// ring; relay links are re-read at most once a second after a change.
const SVG = 'http://www.w3.org/2000/svg';
const SIZE = 800;
const C = SIZE / 2;
const LABELS_UP_TO = 150;
const state = (n) => (n.expired ? 'expired' : n.online ? 'online' : 'offline');

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

export async function mount(root) {
  const nodes = new Map();
  let relays = [];
  const svg = s('svg', { id: 'topology', viewBox: `0 0 ${SIZE} ${SIZE}`, role: 'img', 'aria-label': 'network topology' });
  const legend = h('p', { class: 'legend' });
  const circles = new Map();

  const place = (i, n, r) => [C + r * Math.cos((2 * Math.PI * i) / n - Math.PI / 2), C + r * Math.sin((2 * Math.PI * i) / n - Math.PI / 2)];
  function draw() {
    svg.replaceChildren();
    circles.clear();
    const list = [...nodes.values()].sort((a, b) => a.name.localeCompare(b.name));
    const relayAt = new Map(relays.map((r, i) => [r.id, relays.length === 1 ? [C, C] : place(i, relays.length, 60)]));
    const links = s('g', { class: 'links' });
    const dots = s('g', { class: 'nodes' });
    svg.append(links, dots);
    for (const [id, [x, y]] of relayAt) dots.append(s('circle', { cx: x, cy: y, r: 16, class: 'relay', 'data-relay': id }), s('text', { x, y: y + 32, class: 'label relay-label' }, `relay ${id}`));
    const viaRelay = new Map();
    for (const r of relays) for (const c of r.clients ?? []) viaRelay.set(c, r.id);
    // A node reporting a relayed path without a known relay connection: its home relay is not listed; use the first.
    for (const n of list) if (!viaRelay.has(n.name) && Object.values(n.paths ?? {}).includes('relay') && relays.length) viaRelay.set(n.name, relays[0].id);
    const at = new Map(list.map((n, i) => [n.name, place(i, list.length, C - 40)]));
    const drawn = new Set();
    for (const n of list) {
      for (const [peer, path] of Object.entries(n.paths ?? {})) {
        const pair = [n.name, peer].sort().join(':');
        // Each direct pair once (both ends report it).
        if (path !== 'direct' || !at.has(peer) || drawn.has(pair)) continue;
        drawn.add(pair);
        const [a, b] = [at.get(n.name), at.get(peer)];
        links.append(s('line', { x1: a[0], y1: a[1], x2: b[0], y2: b[1], class: 'link direct-link', 'data-link': pair }));
      }
    }
    list.forEach((n) => {
      const [x, y] = at.get(n.name);
      const relay = relayAt.get(viaRelay.get(n.name));
      if (relay) links.append(s('line', { x1: x, y1: y, x2: relay[0], y2: relay[1], class: 'link relay-link', 'data-link': `${n.name}:relay` }));
      const dot = s('circle', { cx: x, cy: y, r: list.length > LABELS_UP_TO ? 3 : 7, class: `node ${state(n)}`, 'data-node': n.name });
      dot.append(s('title', {}, `${n.name} ${n.ipv4} ${state(n)}`));
      circles.set(n.id, dot);
      dots.append(dot);
      if (list.length <= LABELS_UP_TO) dots.append(s('text', { x, y: y - 12, class: 'label' }, n.name));
    });
    const online = list.filter((n) => n.online).length;
    legend.textContent = `${list.length} nodes, ${online} online, ${viaRelay.size} via a relay, ${links.querySelectorAll('.direct-link').length} direct links`;
  }

  async function load() {
    const [n, r] = await Promise.all([api('GET', '/api/v1/admin/nodes'), api('GET', '/api/v1/admin/relays')]);
    nodes.clear();
    for (const x of n.nodes) nodes.set(x.id, x);
    relays = r.relays;
    draw();
  }
  let relayTimer = null;
  const relaysSoon = () =>
    (relayTimer ??= setTimeout(async () => {
      relayTimer = null;
      relays = (await api('GET', '/api/v1/admin/relays')).relays;
      draw();
    }, 1000));

  root.append(h('h1', {}, 'Topology'), legend, svg);
  await load();
  const unsubscribe = subscribe({
    onOpen: load,
    onNode: (n) => {
      const had = nodes.get(n.id);
      nodes.set(n.id, n);
      const dot = circles.get(n.id);
      if (had && dot && had.name === n.name && JSON.stringify(had.paths ?? {}) === JSON.stringify(n.paths ?? {})) {
        dot.setAttribute('class', `node ${state(n)}`);
        dot.firstChild.textContent = `${n.name} ${n.ipv4} ${state(n)}`;
        legend.textContent = legend.textContent.replace(/\d+ online/, `${[...nodes.values()].filter((x) => x.online).length} online`);
      } else draw();
      relaysSoon();
    },
    onRemove: (id) => {
      nodes.delete(id);
      draw();
    },
  });
  return () => {
    clearTimeout(relayTimer);
    unsubscribe();
  };
}
