// One live connection to GET /api/v1/admin/events shared by the pages that show nodes.
// EventSource reconnects by itself; a page re-reads the full list on (re)connect.
let source = null;
const listeners = new Set();

function ensure() {
  if (source) return;
  source = new EventSource('/api/v1/admin/events');
  source.addEventListener('open', () => listeners.forEach((l) => l.onOpen?.()));
  source.addEventListener('node', (e) => listeners.forEach((l) => l.onNode?.(JSON.parse(e.data))));
  source.addEventListener('remove', (e) => listeners.forEach((l) => l.onRemove?.(JSON.parse(e.data).id)));
}

/** Subscribes `l` ({onOpen, onNode, onRemove}); returns the unsubscribe function. */
export function subscribe(l) {
  listeners.add(l);
  ensure();
  return () => {
    listeners.delete(l);
    if (listeners.size === 0 && source) {
      source.close();
      source = null;
    }
  };
}

export function closeEvents() {
  listeners.clear();
  source?.close();
  source = null;
}
