import { NetstackError } from './errors.js';
import { loadLwip, type LwipAddon } from './lwip.js';
import { WasmLwip } from './lwip-wasm.js';

// Which lwIP runs the userspace stack. The weft_lwip addon (Debian's liblwip) by default;
// the WebAssembly build (native/lwip-wasm) where the addon does not load, or with
// WEFT_NATIVE=0, so `--tun=userspace` needs no C addon at all. WEFT_NETSTACK=addon|wasm
// forces one (tests and benchmarks run both).

export type StackKind = 'addon' | 'wasm';

/** The stack WEFT_NETSTACK / WEFT_NATIVE ask for; null: the addon if it loads, else wasm. */
export function requestedStack(env: NodeJS.ProcessEnv = process.env): StackKind | null {
  const v = env.WEFT_NETSTACK;
  if (v === 'addon' || v === 'wasm') return v;
  if (v !== undefined && v !== '') throw new NetstackError('ERR_NETSTACK_UNAVAILABLE', `WEFT_NETSTACK must be addon or wasm, not ${JSON.stringify(v)}`);
  return env.WEFT_NATIVE === '0' ? 'wasm' : null;
}

/** A stack of the given kind; wasm stacks are fresh instances, the addon is process-global. */
export function loadStack(kind: StackKind | null = requestedStack()): LwipAddon {
  if (kind === 'addon') return loadLwip();
  if (kind === 'wasm') return new WasmLwip();
  try {
    return loadLwip();
  } catch (err) {
    try {
      return new WasmLwip();
    } catch (wasmErr) {
      throw new NetstackError('ERR_NETSTACK_UNAVAILABLE', `${(err as Error).message}; and ${(wasmErr as Error).message}`, { cause: wasmErr });
    }
  }
}

/** Whether the weft_lwip addon loads in this process (tests run addon cases only then). */
export function addonLoads(): boolean {
  try {
    loadLwip();
    return true;
  } catch {
    return false;
  }
}
