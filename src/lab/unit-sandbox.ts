// Runs a command under the sandbox a systemd unit file describes, where no systemd runs
// (CI containers): the [Service] directives are read from the unit file and applied with a
// private mount namespace (`unshare -m`: read-only binds, tmpfs) and `setpriv`
// (capability bounding set, no_new_privs). A directive this file does not know how to
// apply is an error, so a unit can never get looser than what the tests ran.
import { readFileSync } from 'node:fs';

export type UnitFile = Map<string, Map<string, string[]>>;

/** systemd's INI dialect: sections, repeated keys accumulate, `#`/`;` comments, `\` continuations. */
export function parseUnit(text: string): UnitFile {
  const unit: UnitFile = new Map();
  let section: Map<string, string[]> | null = null;
  for (const line of text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim())) {
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = new Map();
      unit.set(s[1], section);
      continue;
    }
    const kv = /^([A-Za-z0-9]+)\s*=\s*(.*)$/.exec(line);
    if (!kv || !section) throw new Error(`unit file: cannot parse ${JSON.stringify(line)}`);
    // An empty assignment resets a list, as in systemd.
    section.set(kv[1], kv[2] === '' ? [] : [...(section.get(kv[1]) ?? []), kv[2]]);
  }
  return unit;
}

export function readUnit(path: string): UnitFile {
  return parseUnit(readFileSync(path, 'utf8'));
}

/** The last value of `key` in [Service] (systemd's rule for scalar settings). */
export function serviceValue(unit: UnitFile, key: string): string | undefined {
  return unit.get('Service')?.get(key)?.at(-1);
}

function words(unit: UnitFile, key: string): string[] {
  return (unit.get('Service')?.get(key) ?? []).flatMap((v) => v.split(/\s+/)).filter(Boolean);
}

const yes = (v: string | undefined): boolean => v !== undefined && /^(yes|true|on|1)$/i.test(v);

/** Supervision and bookkeeping: nothing to apply for one run. */
const NOT_SANDBOX = new Set(['ExecStart', 'EnvironmentFile', 'Restart', 'RestartSec', 'StateDirectoryMode', 'Type']);
const APPLIED = new Set(['CapabilityBoundingSet', 'NoNewPrivileges', 'ProtectSystem', 'ReadWritePaths', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'DeviceAllow', 'StateDirectory']);

/** The standard pseudo devices systemd leaves with DevicePolicy=auto/closed and PrivateDevices. */
const PSEUDO_DEVICES: Array<[string, number, number]> = [['null', 1, 3], ['zero', 1, 5], ['full', 1, 7], ['random', 1, 8], ['urandom', 1, 9]];
const DEVICE_NUMBERS: Record<string, [number, number]> = { '/dev/net/tun': [10, 200] };

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** ExecStart as argv, `${VAR}` filled from `env` (what EnvironmentFile= would provide). */
export function execStart(unit: UnitFile, env: Record<string, string>): string[] {
  const exec = (serviceValue(unit, 'ExecStart') ?? '').replace(/\$\{(\w+)\}/g, (_m, v: string) => {
    if (!(v in env)) throw new Error(`ExecStart uses \${${v}}, not given`);
    return env[v];
  });
  const argv = exec.split(/\s+/).filter(Boolean);
  // A prefix such as `+` (full privileges) or `!` would change what the sandbox means.
  if (!argv[0]?.startsWith('/')) throw new Error(`unit-sandbox: ExecStart must start with an absolute path, got ${JSON.stringify(argv[0])}`);
  return argv;
}

/**
 * argv prefix that runs the command after it under the unit's sandbox, with `stateDir`
 * standing in for /var/lib/<StateDirectory>. Run it as root inside the network namespace
 * (`ip netns exec NS ...`); the mounts stay private to it. `keep`: folders of the program
 * itself that PrivateTmp would hide (a checkout under /tmp; an installed package lives
 * elsewhere), mounted back over the private /tmp.
 */
export function sandboxPrefix(unit: UnitFile, stateDir: string, keep: string[] = []): string[] {
  const service = unit.get('Service');
  if (!service) throw new Error('unit has no [Service] section');
  for (const key of service.keys()) {
    if (!NOT_SANDBOX.has(key) && !APPLIED.has(key)) throw new Error(`unit-sandbox cannot apply ${key}=; teach src/lab/unit-sandbox.ts`);
  }
  const sh: string[] = ['set -e'];
  // Writable places first (a bind copies the read-only flag of the mount it comes from).
  const rw = words(unit, 'ReadWritePaths').map((p) => p.replace(/^-/, ''));
  for (const dir of words(unit, 'StateDirectory')) {
    sh.push(`mkdir -p /var/lib/${dir}`, `mount --bind ${q(stateDir)} /var/lib/${dir}`);
    rw.push(`/var/lib/${dir}`);
  }
  // Recursive, like systemd: mounts below (e.g. `ip netns exec`'s /etc/resolv.conf) stay visible.
  for (const p of rw) sh.push(`mountpoint -q ${q(p)} || mount --rbind ${q(p)} ${q(p)}`);
  if (yes(serviceValue(unit, 'PrivateTmp'))) {
    const tmp = ['/tmp', '/var/tmp'];
    const hidden = keep.filter((p) => tmp.some((d) => p.startsWith(`${d}/`)));
    hidden.forEach((p, i) => sh.push(`mkdir -p /run/unit-sandbox-keep/${i}`, `mount --rbind ${q(p)} /run/unit-sandbox-keep/${i}`));
    for (const d of tmp) sh.push(`mount -t tmpfs -o mode=1777 tmpfs ${d}`);
    hidden.forEach((p, i) => sh.push(`mkdir -p ${q(p)}`, `mount --rbind /run/unit-sandbox-keep/${i} ${q(p)}`));
    rw.push(...tmp);
  }
  const protect = serviceValue(unit, 'ProtectSystem') ?? 'no';
  const ro = protect === 'strict' ? ['/'] : yes(protect) ? ['/usr', '/boot', '/efi'] : protect === 'full' ? ['/usr', '/boot', '/efi', '/etc'] : [];
  if (ro.length) {
    // Every mount under a read-only root, except the API file systems and the writable paths.
    const keep = ['/dev', '/proc', '/sys', ...rw].map((p) => `${p.replace(/\/$/, '')}|${p.replace(/\/$/, '')}/*`).join('|');
    const under = ro.map((p) => (p === '/' ? '/*' : `${p}|${p}/*`)).join('|');
    sh.push(
      `awk '{for(i=7;i<=NF;i++) if($i=="-"){print $5, $(i+1); break}}' /proc/self/mountinfo | while read m fs; do`,
      `  case "$m" in ${keep}) continue;; esac; [ "$fs" = nsfs ] && continue`,
      `  case "$m" in /|${under}) mount -o remount,bind,ro "$m";; esac`,
      'done',
    );
  }
  const home = serviceValue(unit, 'ProtectHome');
  if (yes(home) || home === 'read-only') {
    const opts = yes(home) ? 'ro,mode=000' : 'ro';
    for (const d of ['/home', '/root', '/run/user']) sh.push(`[ ! -d ${d} ] || mount -t tmpfs -o ${opts} tmpfs ${d}`);
  }
  const devices = words(unit, 'DeviceAllow').filter((w) => w.startsWith('/'));
  if (devices.length || yes(serviceValue(unit, 'PrivateDevices'))) {
    // Only the pseudo devices and the allowed ones exist (DeviceAllow is a cgroup filter in systemd; same set).
    sh.push('mount -t tmpfs -o mode=755 tmpfs /dev');
    for (const [name, major, minor] of PSEUDO_DEVICES) sh.push(`mknod -m 666 /dev/${name} c ${major} ${minor}`);
    for (const d of devices) {
      const nums = DEVICE_NUMBERS[d];
      if (!nums) throw new Error(`unit-sandbox: no device number known for ${d}`);
      sh.push(`mkdir -p ${q(d.replace(/\/[^/]+$/, ''))}`, `mknod -m 600 ${q(d)} c ${nums[0]} ${nums[1]}`);
    }
  }
  const setpriv = ['setpriv'];
  if (yes(serviceValue(unit, 'NoNewPrivileges'))) setpriv.push('--no-new-privs');
  const caps = words(unit, 'CapabilityBoundingSet');
  if (caps.length) {
    const list = caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`).join(',');
    // Root's capabilities after exec are its bounding set; inheritable ones must not widen it.
    setpriv.push(`--bounding-set=-all,${list}`, '--inh-caps=-all');
  }
  sh.push(`exec ${setpriv.join(' ')} -- "$@"`);
  return ['unshare', '-m', '--propagation', 'private', 'sh', '-c', sh.join('\n'), 'unit-sandbox'];
}
