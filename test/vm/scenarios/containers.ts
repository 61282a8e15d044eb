// Guest suite: real runc containers (ctx.container) are what a node runs. From inside each one,
// with both kubelet cgroup drivers: PID 1 is the container's own process, /proc/self/cgroup is
// kubelet's path, the root is an overlay, the capabilities are containerd's defaults, only loopback;
// and a kernel rule of the pod denies inside its container with EPERM while the same command in a
// control container outside every pod succeeds.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { DEFAULT_CAPABILITIES, ONE_BOOT_PER_KERNEL, ONE_BOOT_PER_KERNEL_CROSSED, scenario, type CgroupDriver, type Container, type ScenarioContext } from '../../../vm/guest/scenario.ts';
import { EPERM_RE, loadPod, profile, py, rule } from '../../../vm/guest/kit/kernel.ts';

/** Capability numbers (linux/capability.h) of the names runc takes. */
const CAP_NUMBERS: Record<string, number> = {
  CAP_CHOWN: 0, CAP_DAC_OVERRIDE: 1, CAP_DAC_READ_SEARCH: 2, CAP_FOWNER: 3, CAP_FSETID: 4, CAP_KILL: 5, CAP_SETGID: 6,
  CAP_SETUID: 7, CAP_SETPCAP: 8, CAP_NET_BIND_SERVICE: 10, CAP_NET_RAW: 13, CAP_SYS_CHROOT: 18, CAP_SYS_ADMIN: 21,
  CAP_MKNOD: 27, CAP_AUDIT_WRITE: 29, CAP_SETFCAP: 31,
};

export function capMask(names: readonly string[]): bigint {
  let m = 0n;
  for (const n of names) {
    const bit = CAP_NUMBERS[n];
    if (bit === undefined) throw new Error(`unknown capability ${n}`);
    m |= 1n << BigInt(bit);
  }
  return m;
}

async function ok(c: Container, argv: string[]): Promise<string> {
  const r = await c.exec(argv);
  assert.equal(r.code, 0, `${argv.join(' ')} in ${c.id.slice(0, 12)}: exit ${r.code} ${r.signal ?? ''}\n${r.stderr}`);
  return r.stdout;
}

async function whatItIs(ctx: ScenarioContext, driver: CgroupDriver): Promise<void> {
  const uid = randomUUID();
  const c = await ctx.container({ pod: { uid, qos: 'burstable' }, driver });
  ctx.log(`container ${c.id.slice(0, 12)} started in ${c.startMs} ms, cgroup ${c.cgroupPath}`);
  ctx.emit('container-start-ms', { driver, ms: c.startMs });
  const expected = driver === 'systemd'
    ? `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid.replaceAll('-', '_')}.slice/cri-containerd-${c.id}.scope`
    : `/kubepods/burstable/pod${uid}/${c.id}`;
  assert.equal(c.cgroupPath, expected);
  assert.equal(c.statusId, `containerd://${c.id}`);

  // PID 1 is the container's own process (its own PID namespace), and the guest sees it at c.pid.
  assert.equal((await ok(c, ['cat', '/proc/1/cmdline'])).split('\0').filter(Boolean).join(' '), '/bin/sleep infinity');
  assert.equal(readFileSync(`/proc/${c.pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' '), '/bin/sleep infinity');
  assert.equal((await ok(c, ['sh', '-c', 'echo $$'])).trim() !== String(c.pid), true, 'pids are the container\'s own');
  assert.notEqual((await ok(c, ['readlink', '/proc/self/ns/pid'])).trim(), readlinkSync('/proc/self/ns/pid'));
  // kubelet's cgroup, as the process sees it and as the guest does.
  assert.equal((await ok(c, ['cat', '/proc/self/cgroup'])).trim(), `0::${expected}`);
  assert.equal(readFileSync(`/proc/${c.pid}/cgroup`, 'utf8').trim(), `0::${expected}`);
  assert.ok(readFileSync(`${c.cgroup.path}/cgroup.procs`, 'utf8').split('\n').includes(String(c.pid)));
  // An overlay root (pivot_root: no trace of the guest's root), /sys and its cgroup read-only.
  const mounts = (await ok(c, ['cat', '/proc/self/mounts'])).trim().split('\n').map((l) => l.split(' '));
  const at = (p: string): string[] | undefined => mounts.filter((m) => m[1] === p).at(-1);
  assert.equal(at('/')?.[2], 'overlay', JSON.stringify(mounts));
  assert.match(at('/sys')?.[3] ?? '', /(^|,)ro(,|$)/);
  assert.match(at('/sys/fs/cgroup')?.[3] ?? '', /(^|,)ro(,|$)/);
  assert.equal(at('/proc')?.[2], 'proc');
  assert.ok(!mounts.some((m) => m[2] === '9p'), 'the guest\'s 9p root is not visible');
  // uid 0 with containerd's default capabilities, no seccomp, no no_new_privs.
  const status = await ok(c, ['cat', '/proc/self/status']);
  const field = (n: string): string => new RegExp(`^${n}:\\s*(\\S+)`, 'm').exec(status)?.[1] ?? '';
  assert.equal(BigInt(`0x${field('CapEff')}`), capMask(DEFAULT_CAPABILITIES), `CapEff ${field('CapEff')}`);
  assert.equal(BigInt(`0x${field('CapBnd')}`), capMask(DEFAULT_CAPABILITIES), `CapBnd ${field('CapBnd')}`);
  assert.equal(field('Seccomp'), '0');
  assert.equal(field('NoNewPrivs'), '0');
  assert.equal((await ok(c, ['id', '-u'])).trim(), '0');
  // Its own network namespace with loopback only, up.
  assert.equal((await ok(c, ['ls', '/sys/class/net'])).trim(), 'lo');
  await ok(c, py('import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); socket.create_connection(s.getsockname()).close()'));
  // A process run as another user, with input.
  const r = await c.exec(['sh', '-c', 'id -u; cat'], { user: '1000:1000', input: 'hello' });
  assert.equal(r.stdout, '1000\nhello');
}

// What a container is loads no program: the attach mode changes nothing there, so each driver's
// check runs once per kernel (the two drivers on opposite boots), as does the next one.
scenario('container: systemd driver — pid 1, kubelet cgroup, overlay root, default capabilities', (ctx) => whatItIs(ctx, 'systemd'), { timeoutMs: 150_000, on: ONE_BOOT_PER_KERNEL });
scenario('container: cgroupfs driver — pid 1, kubelet cgroup, overlay root, default capabilities', (ctx) => whatItIs(ctx, 'cgroupfs'), { timeoutMs: 150_000, on: ONE_BOOT_PER_KERNEL_CROSSED });

scenario('container: guaranteed pods, control containers, binds and tmpfs volumes', async (ctx) => {
  const uid = randomUUID();
  const s = await ctx.container({ pod: { uid, qos: 'guaranteed' } });
  assert.equal(s.cgroupPath, `/kubepods.slice/kubepods-pod${uid.replaceAll('-', '_')}.slice/cri-containerd-${s.id}.scope`);
  const f = await ctx.container({ pod: { uid, qos: 'guaranteed' }, driver: 'cgroupfs' });
  assert.equal(f.cgroupPath, `/kubepods/pod${uid}/${f.id}`);
  const ctl = await ctx.container({
    binds: [{ source: `${ctx.root}/vm/guest`, target: '/opt/helper' }],
    tmpfs: [{ target: '/var/run/secrets/kubernetes.io/serviceaccount', files: { token: 'tok\n' } }],
    files: { '/etc/ssl/certs/seed.pem': 'CERT\n' },
  });
  assert.equal(ctl.cgroupPath, `/system.slice/ctl-${ctl.id.slice(0, 12)}.scope`);
  assert.equal((await ok(ctl, ['cat', '/proc/self/cgroup'])).trim(), `0::${ctl.cgroupPath}`);
  assert.match(await ok(ctl, ['ls', '/opt/helper']), /container\.ts/);
  const touch = await ctl.exec(['touch', '/opt/helper/x']);
  assert.notEqual(touch.code, 0, 'binds are read-only');
  assert.equal(await ok(ctl, ['cat', '/var/run/secrets/kubernetes.io/serviceaccount/token']), 'tok\n');
  const mounts = await ok(ctl, ['cat', '/proc/self/mounts']);
  assert.match(mounts, /^tmpfs \/run\/secrets\/kubernetes\.io\/serviceaccount tmpfs ro[, ]/m);
  assert.equal(await ok(ctl, ['cat', '/etc/ssl/certs/seed.pem']), 'CERT\n');
  // stop() is final and clean: the cgroup goes, the process with it.
  const pid = ctl.pid;
  await ctl.stop();
  assert.throws(() => process.kill(pid, 0));
}, { on: ONE_BOOT_PER_KERNEL_CROSSED });

// The kernel side: a Block rule of the pod denies in its real container; the control container
// runs the same command. With cgroup attach mode the programs hang on the boot's kubepods cgroup,
// kubepods.slice (a node has one driver), so there the cgroupfs driver's containers are outside them.
for (const driver of ['systemd', 'cgroupfs'] as const) {
  scenario(`container: a pod's Block rule denies in its ${driver}-driver container with EPERM, not in a control container`, async (ctx) => {
    const pod = await loadPod(ctx, profile({
      process: [rule('Block', { type: 'path', path: '/usr/bin/dpkg' })],
      network: [rule('Block', { type: 'protocol', protocol: 'raw' })],
    }, { file: 'audit', network: 'audit', capabilities: 'audit', process: 'audit' }));
    const c = await ctx.container({ pod: { uid: pod.uid }, driver });
    const ctl = await ctx.container({});
    const enforced = driver === 'systemd' || ctx.attachMode === 'global';
    const dpkg = await c.exec(['dpkg', '--version']);
    const raw = await c.exec(py('import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)'));
    const viaShell = await c.exec(['sh', '-c', 'dpkg --version']);
    if (enforced) {
      // runc exec's own execve refused (as `kubectl exec` reports it), and a shell's in the container
      assert.equal(dpkg.code, 1, `dpkg: ${dpkg.stderr}`);
      assert.match(dpkg.stderr, /exec \/usr\/bin\/dpkg: operation not permitted/);
      assert.equal(viaShell.code, 126, `sh -c dpkg: ${viaShell.stderr}`);
      assert.match(viaShell.stderr, EPERM_RE);
      assert.notEqual(raw.code, 0);
      assert.match(raw.stderr, /PermissionError: \[Errno 1\] Operation not permitted/);
      const e = await pod.waitEvent((x) => x.hook === 'exec' && x.denied && x.target === '/usr/bin/dpkg');
      assert.equal(e.action, 'Block');
    } else {
      ctx.log('cgroup attach mode: the programs are attached to kubepods.slice; a cgroupfs-driver container is outside them');
    }
    assert.equal((await ctl.exec(['dpkg', '--version'])).code, 0, 'dpkg runs in the control container');
    const ctlRaw = await ctl.exec(py('import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)'));
    assert.equal(ctlRaw.code, 0, `raw socket in the control container: ${ctlRaw.stderr}`);
  }, { timeoutMs: 150_000 });
}
