import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { EngineError } from './engine.js';

// The kernel WireGuard backend. Only its detection exists: where the module is missing
// (this project's CI machines) `weft up --backend kernel` fails with the reason. Driving
// the module (`ip link add type wireguard` + netlink) is not implemented yet; the
// error says so where the module exists. docs/BACKENDS.md.

/** Null when the running kernel has WireGuard (loaded, built in, or loadable), else why not. */
export function kernelWireguardUnavailable(root = '/'): string | null {
  if (existsSync(`${root}sys/module/wireguard`)) return null;
  const dir = `${root}lib/modules/${release()}`;
  const listed = (file: string) => {
    try {
      return /(^|\/)wireguard\.ko/m.test(readFileSync(`${dir}/${file}`, 'utf8'));
    } catch {
      return false;
    }
  };
  if (listed('modules.builtin') || listed('modules.dep')) return null;
  return `the kernel ${release()} has no WireGuard module (not in /sys/module, ${dir}/modules.builtin or modules.dep)`;
}

/** Throws the typed error `weft up --backend kernel` reports. */
export function startKernelEngine(root = '/'): never {
  const why = kernelWireguardUnavailable(root);
  if (why) throw new EngineError('ERR_BACKEND_UNAVAILABLE', `--backend kernel: ${why}; use --backend wireguard-go or builtin`);
  throw new EngineError('ERR_BACKEND_UNAVAILABLE', '--backend kernel: driving kernel WireGuard is not implemented in this build; use --backend wireguard-go or builtin');
}
