// `WG_QUICK_USERSPACE_IMPLEMENTATION=weft-wg wg-quick up` with an unchanged wg-quick:
// a full-tunnel config (AllowedIPs 0.0.0.0/0, ::/0) only works if the engine honours
// the fwmark wg-quick sets (SO_MARK), because wg-quick's policy routing sends every
// unmarked packet, including the engine's own encrypted ones, into the tunnel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, exec, execOk, runOk, sleep } from '../../src/lab/netns.js';
import { genKeyPair, parsePing, randomIfname, startEngine, UAPI_DIR, WEFT, WEFT_WG_JS, WIREGUARD_GO } from '../../src/lab/wg-pair.js';
import { e2eFile, pre } from './helpers.js';

e2eFile();

test('wg-quick up/down with weft-wg: full tunnel via fwmark, and down removes everything', { timeout: 90_000 }, async (t) => {
  if (!pre(t, [WEFT, WIREGUARD_GO], ['wg-quick', 'ss'])) return;
  const lab = new Lab();
  const tmp = mkdtempSync(join(tmpdir(), 'weft-wgquick-'));
  try {
    const nsA = await lab.addNs();
    const nsB = await lab.addNs();
    await lab.veth(nsA, { v4: '192.0.2.1/24' }, nsB, { v4: '192.0.2.2/24' });
    const [ka, kb] = await Promise.all([genKeyPair(), genKeyPair()]);

    const ifB = randomIfname();
    await startEngine(lab, nsB, WIREGUARD_GO, ifB);
    writeFileSync(join(tmp, 'b.key'), kb.privateKey + '\n', { mode: 0o600 });
    await execOk(nsB, ['wg', 'set', ifB, 'listen-port', '51820', 'private-key', join(tmp, 'b.key'), 'peer', ka.publicKey, 'allowed-ips', '10.77.0.1/32']);
    await runOk(['ip', '-n', nsB, 'addr', 'add', '10.77.0.2/24', 'dev', ifB]);
    await runOk(['ip', '-n', nsB, 'link', 'set', ifB, 'up']);

    const bin = join(tmp, 'bin');
    await runOk(['mkdir', '-p', bin]);
    symlinkSync(WEFT_WG_JS, join(bin, 'weft-wg'));
    const ifA = randomIfname('wq');
    const conf = join(tmp, `${ifA}.conf`);
    writeFileSync(
      conf,
      `[Interface]\nPrivateKey = ${ka.privateKey}\nAddress = 10.77.0.1/24\nListenPort = 51820\n\n` +
        `[Peer]\nPublicKey = ${kb.publicKey}\nEndpoint = 192.0.2.2:51820\nAllowedIPs = 0.0.0.0/0\n`,
      { mode: 0o600 },
    );
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, WG_QUICK_USERSPACE_IMPLEMENTATION: 'weft-wg' };
    await execOk(nsA, ['wg-quick', 'up', conf], { env, timeoutMs: 30_000 });

    assert.equal((await execOk(nsA, ['wg', 'show', ifA, 'fwmark'])).trim(), '0xca6c');
    const sockets = await execOk(nsA, ['ss', '-uanep']);
    assert.match(sockets, /fwmark:0xca6c/, `the engine's UDP socket carries the mark:\n${sockets}`);
    const ping = parsePing((await exec(nsA, ['ping', '-4', '-n', '-c', '3', '-i', '0.2', '-W', '2', '10.77.0.2'])).stdout);
    assert.ok(ping.received >= 1, `full-tunnel ping through weft-wg: ${ping.output}`);

    await execOk(nsA, ['wg-quick', 'down', conf], { env, timeoutMs: 30_000 });
    const deadline = Date.now() + 10_000;
    while (existsSync(join(UAPI_DIR, `${ifA}.sock`)) && Date.now() < deadline) await sleep(100);
    assert.ok(!existsSync(join(UAPI_DIR, `${ifA}.sock`)), 'UAPI socket removed');
    const links = await execOk(nsA, ['ip', 'link', 'show']);
    assert.ok(!links.includes(ifA), 'interface removed');
    const rules = await execOk(nsA, ['ip', 'rule', 'show']);
    assert.ok(!rules.includes('51820'), `policy rules removed:\n${rules}`);
    const procs = await runOk(['pgrep', '-af', `weft-wg.*${ifA}`]).catch(() => '');
    assert.equal(procs.trim(), '', 'engine process exited');
  } finally {
    await lab.destroy();
    rmSync(tmp, { recursive: true, force: true });
  }
});
