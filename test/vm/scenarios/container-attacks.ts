// Guest suite: issue 15's attacks as root in a real runc container (overlay root, pivot_root, its
// own mount/PID/IPC/UTS/network namespaces, containerd's default capabilities, no seccomp), in the
// cgroup kubelet gives a pod's container (systemd and cgroupfs drivers). Each attack first runs in a
// control container outside every pod, where it must work (a broken attack never passes as
// "denied"), then in the pod's container, where it is denied with EPERM and reported as a Block
// event. The container root is Debian's minbase with python3-minimal (no json module: the
// snippets print "name result" lines).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scenario, type CgroupDriver, type Container, type ContainerOptions, type ScenarioContext } from '../../../vm/guest/scenario.ts';
import type { Profile } from '../../../policy/types.ts';
import { loadPod, profile, rule, type LoadedPod } from '../../../vm/guest/kit/kernel.ts';

const TRY = `
import os, sys, errno, socket
def t(name, fn):
    try:
        fn(); print(name, 'ok')
    except OSError as e:
        print(name, errno.errorcode.get(e.errno, str(e.errno)))
def child(fn):
    pid = os.fork()
    if pid == 0:
        try:
            fn(); os._exit(0)
        except OSError as e:
            os._exit(e.errno)
    _, st = os.waitpid(pid, 0)
    c = os.waitstatus_to_exitcode(st)
    if c: raise OSError(c, os.strerror(c))
`;

/** Runs a python snippet in the container; its "name result" lines as a record. */
async function tries(c: Container, code: string): Promise<Record<string, string>> {
  const r = await c.exec(['/usr/bin/python3', '-c', `${TRY}${code}`]);
  assert.equal(r.code, 0, `python failed: ${r.stderr}`);
  return Object.fromEntries(r.stdout.trim().split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]));
}

interface Attack { pod: LoadedPod; attacker: Container; control: Container }

/** A pod with profile p in force by UID before its container starts (as the enforcer learns it
 *  from the API), its container told to the kernel; and a control container with the same files. */
async function attackPod(ctx: ScenarioContext, p: Profile, driver: CgroupDriver, more: ContainerOptions = {}): Promise<Attack> {
  const uid = randomUUID();
  const pod = await loadPod(ctx, p, { uid, containers: ['main'] });
  const attacker = await ctx.container({ pod: { uid }, driver, ...more });
  const control = await ctx.container(more);
  const told = pod.kernel.setPod({ uid, namespace: 'test', name: 'pod', profile: p, containers: [{ name: 'main', cgroupId: attacker.cgroup.id }] });
  if (!told.ok) throw new Error(`setPod: ${told.error.message}`);
  return { pod, attacker, control };
}

/** cgroupfs driver where the programs see it in every attach mode: cgroup mode attaches to one
 *  kubepods root (kubepods.slice, which this boot also has), global mode finds both */
function other(ctx: ScenarioContext): CgroupDriver {
  return ctx.attachMode === 'global' ? 'cgroupfs' : 'systemd';
}

async function blocked(pod: LoadedPod, hook: string, target?: RegExp): Promise<void> {
  const e = await pod.waitEvent((x) => x.hook === hook && x.denied && (target === undefined || target.test(x.target)));
  assert.equal(e.action, 'Block');
}

scenario('container attack: chroot does not change the path a rule sees (open, write, exec)', async (ctx) => {
  const a = await attackPod(ctx, profile({
    file: [
      rule('Block', { type: 'path', path: '/srv/secrets/kubernetes.io/serviceaccount/token' }),
      rule('Block', { type: 'directory', dir: '/srv/etc/ssl/', recursive: true }, { readOnly: true }),
    ],
    process: [rule('Block', { type: 'path', path: '/usr/bin/true' })],
  }), 'systemd', { files: { '/srv/secrets/kubernetes.io/serviceaccount/token': 'tok\n', '/srv/etc/ssl/certs/seed.pem': 'CERT\n' } });
  const code = `
t('token', lambda: child(lambda: (os.chroot('/srv/secrets'), open('/kubernetes.io/serviceaccount/token').read())))
t('cert', lambda: child(lambda: (os.chroot('/srv/etc'), open('/ssl/certs/evil.pem', 'w').close())))
t('exec', lambda: child(lambda: (os.chroot('/usr'), os.execv('/bin/true', ['true']))))
`;
  assert.deepEqual(await tries(a.control, code), { token: 'ok', cert: 'ok', exec: 'ok' }, 'control');
  const r = await tries(a.attacker, code);
  ctx.log(JSON.stringify(r));
  assert.deepEqual(r, { token: 'EPERM', cert: 'EPERM', exec: 'EPERM' });
  await blocked(a.pod, 'open', /^\/srv\/secrets\/kubernetes.io\/serviceaccount\/token$/);
  await blocked(a.pod, 'exec', /^\/usr\/bin\/true$/);
});

scenario('container attack: the dynamic loader run as a command cannot run a blocked program', async (ctx) => {
  const a = await attackPod(ctx, profile({ process: [rule('Block', { type: 'path', path: '/usr/bin/apt-get' })] }), other(ctx));
  // the loader by its own path, and a copy of it under another name (no rule names the copy)
  for (const c of [a.control, a.attacker]) {
    const cp = await c.exec(['/bin/cp', '/lib64/ld-linux-x86-64.so.2', '/tmp/myld']);
    assert.equal(cp.code, 0, cp.stderr);
  }
  const argvs = [['/usr/bin/apt-get', '--version'], ['/lib64/ld-linux-x86-64.so.2', '/usr/bin/apt-get', '--version'], ['/tmp/myld', '/usr/bin/apt-get', '--version']];
  for (const argv of argvs) {
    const c = await a.control.exec(argv);
    assert.equal(c.code, 0, `control ${argv.join(' ')}: ${c.stderr}`);
    assert.match(c.stdout, /^apt /);
    const r = await a.attacker.exec(argv);
    ctx.log(`${argv.join(' ')}: code ${r.code} ${r.stderr.trim().slice(0, 160)}`);
    assert.notEqual(r.code, 0, `${argv.join(' ')} must not run apt-get in the pod`);
    assert.doesNotMatch(r.stdout, /^apt /);
  }
  await blocked(a.pod, 'mmap', /^\/usr\/bin\/apt-get$/);
  const ok = await a.attacker.exec(['/lib64/ld-linux-x86-64.so.2', '/usr/bin/true']);
  assert.equal(ok.code, 0, `an allowed program through the loader runs: ${ok.stderr}`);
});

scenario('container attack: under a process allow-list, a memfd, a renamed copy and the loader run nothing the list leaves out', async (ctx) => {
  // The attack runs as the container's PID 1 (python), the allow-list in force before the
  // container starts: runc 1.1's init re-executes runc from a memfd inside the container's cgroup,
  // which is the runtime's, not the workload's (bpf/runtime.h); python's own memfd is refused.
  const code = `
import time
while not os.path.exists('/tmp/go'):
    time.sleep(0.05)
def memfd():
    fd = os.memfd_create('x', 0)
    os.write(fd, open('/usr/bin/true', 'rb').read())
    os.execv('/proc/self/fd/%d' % fd, ['true'])
def copy():
    open('/tmp/t', 'wb').write(open('/usr/bin/true', 'rb').read()); os.chmod('/tmp/t', 0o755)
t('memfd', lambda: child(memfd))
t('copy', lambda: (copy(), child(lambda: os.execv('/tmp/t', ['t']))))
t('loader', lambda: child(lambda: os.execv('/lib64/ld-linux-x86-64.so.2', ['ld.so', '/usr/bin/true'])))
print('done', 'ok', flush=True)
time.sleep(3600)
`;
  const argv = ['/usr/bin/python3', '-c', `${TRY}${code}`];
  const uid = randomUUID();
  const allow = profile({ process: [rule('Allow', { type: 'path', path: '/usr/bin/python3.11' })] }, { process: 'block' });
  const pod = await loadPod(ctx, allow, { uid, containers: ['main'] });
  const attacker = await ctx.container({ pod: { uid }, driver: 'systemd', argv });
  const control = await ctx.container({ argv });
  const told = pod.kernel.setPod({ uid, namespace: 'test', name: 'pod', profile: allow, containers: [{ name: 'main', cgroupId: attacker.cgroup.id }] });
  assert.ok(told.ok, told.ok ? '' : told.error.message);
  const results = async (c: Container): Promise<Record<string, string>> => {
    writeFileSync(join(c.rootfs, 'tmp', 'go'), '');
    const end = Date.now() + 60_000;
    while (!/^done ok$/m.test(c.logs())) {
      if (Date.now() > end) throw new Error(`no results from ${c.id}: ${c.logs()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return Object.fromEntries(c.logs().trim().split('\n').map((l) => l.trim().split(' ') as [string, string]).filter(([k]) => k !== 'done'));
  };
  assert.deepEqual(await results(control), { memfd: 'ok', copy: 'ok', loader: 'ok' }, 'control');
  const r = await results(attacker);
  ctx.log(JSON.stringify(r));
  assert.deepEqual(r, { memfd: 'EPERM', copy: 'EPERM', loader: 'EPERM' });
  await blocked(pod, 'exec', /^\/tmp\/t$/);
});

scenario('container attack: packet sockets are raw, MPTCP is tcp', async (ctx) => {
  const a = await attackPod(ctx, profile({ network: [rule('Block', { type: 'protocol', protocol: 'raw' }), rule('Block', { type: 'protocol', protocol: 'tcp' })] }), other(ctx));
  const code = `
t('packet-dgram', lambda: socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3)).close())
t('packet-raw', lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)).close())
t('sock-packet', lambda: socket.socket(socket.AF_INET, 10, socket.htons(3)).close())
t('mptcp', lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262).close())
t('udp', lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close())
t('netlink', lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).close())
t('unix', lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close())
`;
  const all = { 'packet-dgram': 'ok', 'packet-raw': 'ok', 'sock-packet': 'ok', mptcp: 'ok', udp: 'ok', netlink: 'ok', unix: 'ok' };
  assert.deepEqual(await tries(a.control, code), all, 'control');
  const r = await tries(a.attacker, code);
  ctx.log(JSON.stringify(r));
  assert.deepEqual(r, { 'packet-dgram': 'EPERM', 'packet-raw': 'EPERM', 'sock-packet': 'EPERM', mptcp: 'EPERM', udp: 'ok', netlink: 'ok', unix: 'ok' });
  await blocked(a.pod, 'socket');
});

scenario('container attack: renaming or linking a rule\'s directory, or a blocked program, is refused', async (ctx) => {
  const a = await attackPod(ctx, profile({
    file: [rule('Block', { type: 'directory', dir: '/srv/data/keys/', recursive: true })],
    process: [rule('Block', { type: 'path', path: '/srv/bin/tool' })],
  }), 'systemd', { files: { '/srv/data/keys/k': 'key\n' } });
  for (const c of [a.control, a.attacker]) {
    const cp = await c.exec(['/bin/sh', '-c', 'mkdir -p /srv/bin && cp /usr/bin/true /srv/bin/tool']);
    assert.equal(cp.code, 0, cp.stderr);
  }
  const code = `
t('mv-parent', lambda: os.rename('/srv/data', '/srv/moved'))
t('ln-program', lambda: os.link('/srv/bin/tool', '/srv/tool3'))
t('mv-program', lambda: os.rename('/srv/bin/tool', '/srv/tool2'))
t('mv-bindir', lambda: os.rename('/srv/bin', '/srv/bin2'))
`;
  assert.deepEqual(await tries(a.control, code), { 'mv-parent': 'ok', 'ln-program': 'ok', 'mv-program': 'ok', 'mv-bindir': 'ok' }, 'control');
  const r = await tries(a.attacker, code);
  ctx.log(JSON.stringify(r));
  assert.deepEqual(r, { 'mv-parent': 'EPERM', 'ln-program': 'EPERM', 'mv-program': 'EPERM', 'mv-bindir': 'EPERM' });
  await blocked(a.pod, 'rename', /^\/srv\/data$/);
  const free = await tries(a.attacker, `\nopen('/srv/free', 'w').close()\nt('mv', lambda: os.rename('/srv/free', '/srv/free2'))\n`);
  assert.deepEqual(free, { mv: 'ok' }, 'an unrelated rename');
});

scenario('container attack: renaming a directory from under a wildcard of a Block pattern, or renaming or linking a program a process pattern blocks, is refused; a move that keeps every match is not', async (ctx) => {
  const a = await attackPod(ctx, profile({
    file: [rule('Block', { type: 'pattern', pattern: '/srv/*/secret.key' })],
    process: [rule('Block', { type: 'pattern', pattern: '/opt/{a,b}/tool' })],
  }), 'systemd', { files: { '/srv/box/secret.key': 's\n', '/opt/a/tool': 't\n', '/opt/b/tool': 't\n' } });
  const code = `
t('mv-same', lambda: os.rename('/srv/box', '/srv/box2'))
t('mv-out', lambda: os.rename('/srv/box2', '/tmp/box'))
t('mv-progdir', lambda: os.rename('/opt/a', '/opt/c'))
t('ln-prog', lambda: os.link('/opt/b/tool', '/opt/b/t3'))
t('mv-prog', lambda: os.rename('/opt/b/tool', '/opt/b/t2'))
`;
  assert.deepEqual(await tries(a.control, code), { 'mv-same': 'ok', 'mv-out': 'ok', 'mv-progdir': 'ok', 'ln-prog': 'ok', 'mv-prog': 'ok' }, 'control');
  const r = await tries(a.attacker, `${code}t('read', lambda: open('/srv/box2/secret.key').read())\n`);
  ctx.log(JSON.stringify(r));
  // /srv/box and /srv/box2 end in one automaton state: every name beneath keeps its verdicts
  // a program a process pattern matches keeps its name: no rename, no link
  assert.deepEqual(r, { 'mv-same': 'ok', 'mv-out': 'EPERM', 'mv-progdir': 'EPERM', 'ln-prog': 'EPERM', 'mv-prog': 'EPERM', read: 'EPERM' });
  await blocked(a.pod, 'rename', /^\/srv\/box2$/);
  await blocked(a.pod, 'rename', /^\/opt\/a$/);
  await blocked(a.pod, 'link', /^\/opt\/b\/tool$/);
  await blocked(a.pod, 'rename', /^\/opt\/b\/tool$/);
});

scenario('container attack: a user namespace of the container\'s own keeps every rule, and may not mount (bind, cgroup2)', async (ctx) => {
  const a = await attackPod(ctx, profile({
    file: [rule('Block', { type: 'path', path: '/srv/secret' })],
    capabilities: [rule('Block', { type: 'capability', capability: 'net_raw' })],
  }), other(ctx), { files: { '/srv/secret': 's\n' } });
  const inner = `${TRY}
t('read', lambda: open('/srv/secret').read())
t('raw', lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close())
`;
  const inUserns = ['/usr/bin/unshare', '-Urn', '/usr/bin/python3', '-c', inner];
  const mounts = {
    bind: ['/usr/bin/unshare', '-Urm', '/bin/sh', '-c', 'mkdir -p /srv/mnt && mount --bind /srv /srv/mnt && echo mounted'],
    cgroup2: ['/usr/bin/unshare', '-UrmC', '/bin/sh', '-c', 'mkdir -p /tmp/cg && mount -t cgroup2 none /tmp/cg && echo mounted'],
  };
  const parse = (out: string): Record<string, string> => Object.fromEntries(out.trim().split('\n').map((l) => l.split(' ') as [string, string]));
  const c = await a.control.exec(inUserns);
  assert.equal(c.code, 0, c.stderr);
  assert.deepEqual(parse(c.stdout), { read: 'ok', raw: 'ok' }, 'control: in a user and network namespace of its own, root opens raw sockets');
  for (const [name, argv] of Object.entries(mounts)) {
    const m = await a.control.exec(argv);
    assert.equal(m.code, 0, `control ${name}: ${m.stderr}`);
    assert.match(m.stdout, /mounted/);
  }
  const r = await a.attacker.exec(inUserns);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(parse(r.stdout), { read: 'EPERM', raw: 'EPERM' });
  for (const [name, argv] of Object.entries(mounts)) {
    const m = await a.attacker.exec(argv);
    ctx.log(`${name} in the pod: code ${m.code} ${m.stderr.trim()}`);
    assert.notEqual(m.code, 0, `${name} mount from a user namespace the container made`);
    assert.doesNotMatch(m.stdout, /mounted/);
  }
  await blocked(a.pod, 'mount');
  await blocked(a.pod, 'capable');
});

scenario('container attack: paths of 510 bytes and longer meet their directory rules; long paths elsewhere pass', async (ctx) => {
  const a = await attackPod(ctx, profile({ file: [rule('Block', { type: 'directory', dir: '/srv/long/', recursive: true })] }), 'systemd');
  // /srv/TOP/<a x200>/.../<tail>: exactly n bytes, no name over 255; made from the guest in each
  // container's root (the rule blocks every access under /srv/long/, making them included)
  for (const c of [a.control, a.attacker]) {
    for (const [top, n] of [['long', 510], ['long', 511], ['long', 700], ['free', 700]] as const) {
      let d = `/srv/${top}`;
      while (n - d.length - 1 > 250) d += `/${'a'.repeat(200)}`;
      mkdirSync(join(c.rootfs, d), { recursive: true });
      writeFileSync(join(c.rootfs, `${d}/${'c'.repeat(n - d.length - 1)}`), 'x');
    }
  }
  const code = `
def mk(top, n):
    d = '/srv/' + top
    while n - len(d) - 1 > 250:
        d += '/' + 'a' * 200
    return d + '/' + 'c' * (n - len(d) - 1)
for k, top, n in (('p510', 'long', 510), ('p511', 'long', 511), ('p700', 'long', 700), ('free700', 'free', 700)):
    p = mk(top, n)
    t(k, lambda p=p: open(p).read())
`;
  const run = async (c: Container): Promise<Record<string, string>> => {
    const r = await c.exec(['/usr/bin/python3', '-c', `${TRY}${code}`]);
    assert.equal(r.code, 0, r.stderr);
    return Object.fromEntries(r.stdout.trim().split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]));
  };
  const all = { p510: 'ok', p511: 'ok', p700: 'ok', free700: 'ok' };
  assert.deepEqual(await run(a.control), all, 'control');
  const r = await run(a.attacker);
  ctx.log(JSON.stringify(r));
  assert.deepEqual(r, { p510: 'EPERM', p511: 'EPERM', p700: 'EPERM', free700: 'ok' });
  await blocked(a.pod, 'open', /^\/srv\/long\//);
});

scenario('container attack: a container the enforcer was not told about (a restart) gets every container\'s rules once the pod\'s are all known', async (ctx) => {
  const uid = randomUUID();
  const p = profile({ file: [rule('Block', { type: 'path', path: '/srv/secret' }, { containers: ['main'] })] });
  const pod = await loadPod(ctx, p, { uid, containers: ['main', 'side'] });
  const files = { files: { '/srv/secret': 's\n' } };
  const main = await ctx.container({ pod: { uid }, driver: 'systemd', ...files });
  const side = await ctx.container({ pod: { uid }, driver: 'systemd', ...files });
  const told = pod.kernel.setPod({ uid, namespace: 'test', name: 'pod', profile: p, containers: [{ name: 'main', cgroupId: main.cgroup.id }, { name: 'side', cgroupId: side.cgroup.id }] });
  assert.ok(told.ok, told.ok ? '' : told.error.message);
  const code = `\nt('read', lambda: open('/srv/secret').read())\n`;
  assert.deepEqual(await tries(side, code), { read: 'ok' }, 'the told sidecar is not main: control');
  assert.deepEqual(await tries(main, code), { read: 'EPERM' });
  const restarted = await ctx.container({ pod: { uid }, driver: 'systemd', ...files });
  assert.deepEqual(await tries(restarted, code), { read: 'EPERM' }, 'a container scope nobody told the kernel about');
  await blocked(pod, 'open', /^\/srv\/secret$/);
});

scenario('container attack: a process of the container in a cgroup nested 12 deep, or in one named like another pod, stays in the pod', async (ctx) => {
  const a = await attackPod(ctx, profile({ file: [rule('Block', { type: 'path', path: '/srv/secret' })] }), other(ctx), { files: { '/srv/secret': 's\n' } });
  const deep = Array.from({ length: 12 }, (_, i) => `n${i}`).join('/');
  // cgroups a tenant with a writable cgroup tree would make below its container (runc mounts it
  // read-only: made here from the guest), and `runc exec --cgroup` puts the container's process there
  const subs = { deep, systemd: 'kubepods-besteffort-pod00000000_0000_4000_8000_000000000000.slice', cgroupfs: 'pod00000000-0000-4000-8000-000000000000' };
  const code = `\nt('read', lambda: open('/srv/secret').read())\n`;
  for (const [name, sub] of Object.entries(subs)) {
    for (const c of [a.control, a.attacker]) await ctx.mkCgroup(`${c.cgroup.path.replace(/^\/sys\/fs\/cgroup\//, '')}/${sub}`);
    const run = async (c: Container): Promise<Record<string, string>> => {
      const r = await c.exec(['/usr/bin/python3', '-c', `${TRY}${code}`], { cgroup: sub });
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      return Object.fromEntries(r.stdout.trim().split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]));
    };
    const where = await a.attacker.exec(['/bin/cat', '/proc/self/cgroup'], { cgroup: sub });
    assert.ok(where.stdout.trim().endsWith(`/${sub}`), `runc exec --cgroup put the process in ${sub}: ${where.stdout.trim()} ${where.stderr}`);
    assert.deepEqual(await run(a.control), { read: 'ok' }, `control (${name})`);
    const r = await run(a.attacker);
    ctx.log(`${name}: ${JSON.stringify(r)}`);
    assert.deepEqual(r, { read: 'EPERM' }, `a process in the ${name} cgroup below the container`);
  }
  await blocked(a.pod, 'open', /^\/srv\/secret$/);
});
