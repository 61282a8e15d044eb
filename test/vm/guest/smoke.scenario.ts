// The harness's self-test, run in the guest by test/vm/smoke.test.ts: the guest is what kernel
// tests expect (BPF LSM active, BTF, cgroup2, bpffs, the share as the process root), and the
// scenario API does what scenario.ts promises.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scenario } from '../../../vm/guest/scenario.ts';

function mountOf(point: string): { fstype: string; options: string } | undefined {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (f[4] === point && sep > 0) return { fstype: f[sep + 1] as string, options: `${f[5]},${f[sep + 3]}` };
  }
  return undefined;
}

scenario('guest: bpf is an active LSM and BTF is present', async (ctx) => {
  const lsm = readFileSync('/sys/kernel/security/lsm', 'utf8').trim();
  ctx.log(`lsm: ${lsm}`);
  assert.ok(lsm.split(',').includes('bpf'), `bpf missing from /sys/kernel/security/lsm (${lsm})`);
  assert.ok(statSync('/sys/kernel/btf/vmlinux').size > 1_000_000, 'BTF at /sys/kernel/btf/vmlinux');
  assert.match(ctx.kernel, ctx.kernelSeries === '6.12' ? /^6\.12\./ : /^6\.1\.0-/);
});

scenario('guest: the share is the process root, read-only, with securityfs, bpffs, cgroup2 and tmpfs mounted', async (ctx) => {
  const rootMount = mountOf('/');
  assert.equal(rootMount?.fstype, '9p', `/ is ${JSON.stringify(rootMount)}`);
  assert.match(rootMount?.options ?? '', /\bro\b/);
  // switch_root, not chroot: the process root is the mount's root, so kernel paths have no prefix.
  assert.equal(readlinkSync('/proc/self/root'), '/');
  assert.equal(mountOf('/sys/fs/cgroup')?.fstype, 'cgroup2');
  assert.equal(mountOf('/sys/fs/bpf')?.fstype, 'bpf');
  assert.equal(mountOf('/sys/kernel/security')?.fstype, 'securityfs');
  for (const d of ['/tmp', '/run', '/root']) assert.equal(mountOf(d)?.fstype, 'tmpfs', d);
  assert.ok(existsSync(join(ctx.root, 'package.json')), 'the project is visible at its host path');
  assert.throws(() => writeFileSync(join(ctx.root, '.vm-write-probe'), 'x'), /EROFS/);
});

scenario('api: runIn puts the process in the cgroup before it execs', async (ctx) => {
  const cg = await ctx.mkCgroup('ag-smoke/pod');
  assert.equal(cg.id, statSync(cg.path, { bigint: true }).ino);
  const r = await ctx.runIn(cg, ['cat', '/proc/self/cgroup']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '0::/ag-smoke/pod');
  const outside = await ctx.runIn(null, ['cat', '/proc/self/cgroup']);
  assert.equal(outside.stdout.trim(), '0::/');
  const asNobody = await ctx.runIn(cg, ['id', '-u'], { uid: 65534, gid: 65534 });
  assert.equal(asNobody.stdout.trim(), '65534', asNobody.stderr);
  const withInput = await ctx.runIn(cg, ['cat'], { input: 'hello' });
  assert.equal(withInput.stdout, 'hello');
});

scenario('api: mountTmpfs gives writable fixtures over the read-only root', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  writeFileSync('/srv/fixture', 'x');
  await ctx.mountTmpfs('/etc/ssl', { keepContents: true });
  assert.ok(existsSync('/etc/ssl/openssl.cnf'), 'contents kept');
  writeFileSync('/etc/ssl/new', 'x');
  await ctx.mountTmpfs('/etc/pki');
  writeFileSync('/etc/pki/new', 'x');
  assert.ok(existsSync('/etc/hostname') || existsSync('/etc/passwd'), '/etc keeps its contents');
  ctx.log('fixtures written under /srv, /etc/ssl and /etc/pki');
});

scenario('api: clean-up removed the previous scenarios\' cgroups and mounts', async () => {
  assert.ok(!existsSync('/sys/fs/cgroup/ag-smoke'), 'cgroup left behind');
  assert.ok(!existsSync('/srv/fixture'), '/srv tmpfs left mounted');
  assert.ok(!existsSync('/etc/pki'), '/etc tmpfs left mounted');
});

scenario('kernel: LSM programs of both attach types load, attach and decide', async (ctx) => {
  const { attachGlobal, attachToCgroup, BPF_LSM_CGROUP, BPF_LSM_MAC, loadLsmProgram } = await import('./bpf-probe.ts');
  const { closeSync, constants, openSync } = await import('node:fs');
  // BPF_LSM_CGROUP (kernels >= 6.0): file_open returning 0 (deny) for one cgroup: opens there fail
  // with EPERM, elsewhere not.
  const prog = loadLsmProgram(BPF_LSM_CGROUP, 0);
  assert.ok(prog.ok, `BPF_LSM_CGROUP program refused: errno ${prog.errno}\n${prog.log}`);
  ctx.defer(() => closeSync(prog.fd));
  const cg = await ctx.mkCgroup('ag-smoke/lsm');
  const dirFd = openSync(cg.path, constants.O_RDONLY | constants.O_DIRECTORY);
  ctx.defer(() => closeSync(dirFd));
  const link = attachToCgroup(prog.fd, dirFd);
  assert.ok(link.fd >= 0, `BPF_LINK_CREATE to ${cg.path} failed: errno ${link.errno}`);
  ctx.defer(() => closeSync(link.fd));
  const inside = await ctx.runIn(cg, ['cat', '/etc/hostname']);
  assert.notEqual(inside.code, 0);
  assert.match(inside.stderr, /Operation not permitted/);
  const outside = await ctx.runIn(null, ['cat', '/etc/passwd']);
  assert.equal(outside.code, 0, outside.stderr);
  ctx.log(`lsm_cgroup file_open denies inside ${cg.path} only`);

  // BPF_LSM_MAC (every kernel >= 5.7): system-wide, so this one allows (returns 0).
  const mac = loadLsmProgram(BPF_LSM_MAC, 0);
  assert.ok(mac.ok, `BPF_LSM_MAC program refused: errno ${mac.errno}\n${mac.log}`);
  ctx.defer(() => closeSync(mac.fd));
  const macLink = attachGlobal(mac.fd);
  assert.ok(macLink.fd >= 0, `BPF_RAW_TRACEPOINT_OPEN failed: errno ${macLink.errno}`);
  ctx.defer(() => closeSync(macLink.fd));
  const r = await ctx.runIn(null, ['cat', '/etc/passwd']);
  assert.equal(r.code, 0, r.stderr);
  ctx.log('lsm (MAC) file_open program attached system-wide, allowing');
});
