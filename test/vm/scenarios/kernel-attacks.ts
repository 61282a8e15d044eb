// Guest suite: what root in a pod tries to get around a rule (issue 15's bypass list). Every
// scenario runs the attack outside any pod first (the control: it must work there, so a broken
// attack can never pass as "denied"), then inside the pod, where it is denied with EPERM and
// reported as a Block event.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import type { Cgroup, ScenarioContext } from '../../../vm/guest/scenario.ts';
import { scenario } from '../../../vm/guest/scenario.ts';
import { podWith, profile, py, rule, type TestPod } from '../../../vm/guest/kit/kernel.ts';

/** Runs a python snippet that prints one JSON object of results. */
async function pyJson(ctx: ScenarioContext, cg: Cgroup | null, code: string, env: Record<string, string> = {}): Promise<Record<string, string>> {
  const r = await ctx.runIn(cg, py(code), { env });
  assert.equal(r.code, 0, `python failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, string>;
}

const TRY = `
import os, json, errno, socket, sys
r = {}
def t(name, fn):
    try:
        fn(); r[name] = 'ok'
    except OSError as e:
        r[name] = errno.errorcode.get(e.errno, str(e.errno))
`;

async function blocked(pod: TestPod, hook: string, target?: RegExp): Promise<void> {
  const e = await pod.waitEvent((x) => x.hook === hook && x.denied && (target === undefined || target.test(x.target)));
  assert.equal(e.action, 'Block');
}

scenario('attack: chroot does not change the path a rule sees (open, write, exec)', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  mkdirSync('/srv/secrets/kubernetes.io/serviceaccount', { recursive: true });
  writeFileSync('/srv/secrets/kubernetes.io/serviceaccount/token', 'tok\n');
  mkdirSync('/srv/etc/ssl/certs', { recursive: true });
  const code = `${TRY}
def chrooted(root, fn):
    pid = os.fork()
    if pid == 0:
        try:
            os.chroot(root); fn(); os._exit(0)
        except OSError as e:
            os._exit(e.errno)
    _, st = os.waitpid(pid, 0)
    c = os.waitstatus_to_exitcode(st)
    if c: raise OSError(c, os.strerror(c))
t('token', lambda: chrooted('/srv/secrets', lambda: open('/kubernetes.io/serviceaccount/token').read()))
t('cert', lambda: chrooted('/srv/etc', lambda: open('/ssl/certs/evil.pem', 'w').close()))
def run_true():
    pid = os.fork()
    if pid == 0:
        try:
            os.chroot('/usr'); os.execv('/bin/true', ['true'])
        except OSError as e:
            os._exit(e.errno)
    _, st = os.waitpid(pid, 0)
    c = os.waitstatus_to_exitcode(st)
    if c: raise OSError(c, os.strerror(c))
t('exec', run_true)
print(json.dumps(r))
`;
  const ctl = await pyJson(ctx, null, code);
  assert.deepEqual(ctl, { token: 'ok', cert: 'ok', exec: 'ok' }, 'control: outside any pod the chroot attacks work');
  const pod = await podWith(ctx, profile({
    file: [
      rule('Block', { type: 'path', path: '/srv/secrets/kubernetes.io/serviceaccount/token' }),
      rule('Block', { type: 'directory', dir: '/srv/etc/ssl/', recursive: true }, { readOnly: true }),
    ],
    process: [rule('Block', { type: 'path', path: '/usr/bin/true' })],
  }));
  const r = await pyJson(ctx, pod.cg, code);
  ctx.log(JSON.stringify(r));
  assert.deepEqual(r, { token: 'EPERM', cert: 'EPERM', exec: 'EPERM' });
  await blocked(pod, 'open', /^\/srv\/secrets\/kubernetes.io\/serviceaccount\/token$/);
  await blocked(pod, 'exec', /^\/usr\/bin\/true$/);
});

scenario('attack: the dynamic loader run as a command cannot run a blocked program', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  copyFileSync('/lib64/ld-linux-x86-64.so.2', '/srv/myld');
  const argvs = {
    direct: ['/usr/bin/apt-get', '--version'],
    loader: ['/lib64/ld-linux-x86-64.so.2', '/usr/bin/apt-get', '--version'],
    copy: ['/srv/myld', '/usr/bin/apt-get', '--version'],
  };
  for (const [name, argv] of Object.entries(argvs)) {
    const c = await ctx.runIn(null, argv);
    assert.equal(c.code, 0, `control ${name}: ${c.stderr}`);
    assert.match(c.stdout, /^apt /, `control ${name} ran apt-get`);
  }
  const pod = await podWith(ctx, profile({ process: [rule('Block', { type: 'path', path: '/usr/bin/apt-get' })] }));
  for (const [name, argv] of Object.entries(argvs)) {
    const r = await ctx.runIn(pod.cg, argv);
    ctx.log(`${name}: code ${r.code} ${r.stderr.trim().slice(0, 200)}`);
    assert.notEqual(r.code, 0, `${name} must not run apt-get`);
    assert.doesNotMatch(r.stdout, /^apt /, `${name} printed apt's version`);
  }
  await blocked(pod, 'mmap', /^\/usr\/bin\/apt-get$/);
  // an allowed program through the loader still runs
  const ok = await ctx.runIn(pod.cg, ['/lib64/ld-linux-x86-64.so.2', '/usr/bin/true']);
  assert.equal(ok.code, 0, ok.stderr);
});

scenario('attack: under a process allow-list, a memfd, a renamed copy and the loader run nothing the list leaves out', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  copyFileSync('/usr/bin/true', '/srv/t');
  const code = `${TRY}
def run(argv, prep=None):
    pid = os.fork()
    if pid == 0:
        try:
            path = prep() if prep else argv[0]
            os.execv(path, argv)
        except OSError as e:
            os._exit(e.errno)
    _, st = os.waitpid(pid, 0)
    c = os.waitstatus_to_exitcode(st)
    if c: raise OSError(c, os.strerror(c))
def memfd():
    fd = os.memfd_create('x', 0)
    os.write(fd, open('/usr/bin/true', 'rb').read())
    return '/proc/self/fd/%d' % fd
os.chmod('/srv/t', 0o755)
t('memfd', lambda: run(['true'], memfd))
t('copy', lambda: run(['/srv/t']))
t('loader', lambda: run(['/lib64/ld-linux-x86-64.so.2', '/usr/bin/true']))
print(json.dumps(r))
`;
  assert.deepEqual(await pyJson(ctx, null, code), { memfd: 'ok', copy: 'ok', loader: 'ok' }, 'control');
  const pod = await podWith(ctx, profile({
    process: [rule('Allow', { type: 'path', path: '/usr/bin/dash' }), rule('Allow', { type: 'path', path: '/usr/bin/python3.11' })],
  }, { process: 'block' }));
  const r = await pyJson(ctx, pod.cg, code);
  ctx.log(JSON.stringify(r));
  assert.deepEqual(r, { memfd: 'EPERM', copy: 'EPERM', loader: 'EPERM' });
  await blocked(pod, 'exec', /^\/srv\/t$/);
});

scenario('attack: nested cgroups, cgroups named like another pod and unknown container scopes stay in the pod', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  writeFileSync('/srv/secret', 's\n');
  const code = `${TRY}
t('read', lambda: open('/srv/secret').read())
print(json.dumps(r))
`;
  assert.deepEqual(await pyJson(ctx, null, code), { read: 'ok' }, 'control');
  const pod = await podWith(ctx, profile({ file: [rule('Block', { type: 'path', path: '/srv/secret' }, { containers: ['main'] })] }), { containers: ['main', 'side'], tellCgroup: true });
  const rel = pod.cg.path.replace(/^\/sys\/fs\/cgroup\//, '');
  // deeper than any fixed walk (the old resolver looked 8 levels up)
  let deep = rel;
  for (let i = 0; i < 12; i++) deep += `/n${i}`;
  const d = await ctx.mkCgroup(deep);
  assert.deepEqual(await pyJson(ctx, d, code), { read: 'EPERM' }, '12 levels below the container');
  // a child named like another pod's cgroup (systemd and cgroupfs spellings)
  const other = 'kubepods-besteffort-pod00000000_0000_4000_8000_000000000000.slice';
  const f1 = await ctx.mkCgroup(`${rel}/${other}`);
  assert.deepEqual(await pyJson(ctx, f1, code), { read: 'EPERM' }, 'child named like another pod (systemd)');
  const f2 = await ctx.mkCgroup(`${rel}/pod00000000-0000-4000-8000-000000000000`);
  assert.deepEqual(await pyJson(ctx, f2, code), { read: 'EPERM' }, 'child named like another pod (cgroupfs)');
  // a container scope nobody told the enforcer about (a restart): the pod's containers are all
  // known, so it gets every container's rules, 'main''s Block among them
  const podRel = rel.replace(/\/[^/]+$/, '');
  const side = await ctx.mkCgroup(`${podRel}/cri-containerd-side.scope`);
  const sideSet = pod.kernel.setPod({ uid: pod.uid, namespace: 'test', name: 'pod', profile: profile({ file: [rule('Block', { type: 'path', path: '/srv/secret' }, { containers: ['main'] })] }), containers: [{ name: 'main', cgroupId: pod.cg.id }, { name: 'side', cgroupId: side.id }] });
  assert.ok(sideSet.ok);
  assert.deepEqual(await pyJson(ctx, side, code), { read: 'ok' }, 'the told sidecar is not main');
  const restarted = await ctx.mkCgroup(`${podRel}/cri-containerd-restarted.scope`);
  assert.deepEqual(await pyJson(ctx, restarted, code), { read: 'EPERM' }, 'an unknown scope of a pod whose containers are all known');
  await blocked(pod, 'open', /^\/srv\/secret$/);
});

scenario('attack: paths of 510 bytes and longer meet their directory rules; long paths elsewhere pass', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  // /srv/TOP/<a x200>/.../<tail>: total exactly n bytes, no name over 255
  const mk = (top: string, n: number): string => {
    let dir = `/srv/${top}`;
    while (n - dir.length - 1 > 250) dir += `/${'a'.repeat(200)}`;
    mkdirSync(dir, { recursive: true });
    const p = `${dir}/${'c'.repeat(n - dir.length - 1)}`;
    writeFileSync(p, 'x\n');
    assert.equal(Buffer.byteLength(p), n);
    return p;
  };
  const paths = { p510: mk('long', 510), p511: mk('long', 511), p700: mk('long', 700), free700: mk('free', 700) };
  const code = `${TRY}
for k, p in json.loads(os.environ['P']).items():
    t(k, lambda p=p: open(p).read())
print(json.dumps(r))
`;
  const env = { P: JSON.stringify(paths) };
  assert.deepEqual(await pyJson(ctx, null, code, env), { p510: 'ok', p511: 'ok', p700: 'ok', free700: 'ok' }, 'control');
  const pod = await podWith(ctx, profile({ file: [rule('Block', { type: 'directory', dir: '/srv/long/', recursive: true })] }));
  const r = await pyJson(ctx, pod.cg, code, env);
  ctx.log(JSON.stringify(r));
  assert.deepEqual(r, { p510: 'EPERM', p511: 'EPERM', p700: 'EPERM', free700: 'ok' });
  await blocked(pod, 'open', /^\/srv\/long\//);
});

scenario('attack: packet sockets are raw, MPTCP is tcp, other families follow a network allow-list', async (ctx) => {
  const code = `${TRY}
t('packet-dgram', lambda: socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3)).close())
t('packet-raw', lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)).close())
t('sock-packet', lambda: socket.socket(socket.AF_INET, 10, socket.htons(3)).close())
t('mptcp', lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262).close())
t('tcp', lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close())
t('netlink', lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).close())
t('unix', lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close())
print(json.dumps(r))
`;
  const ctl = await pyJson(ctx, null, code);
  ctx.log(`control ${JSON.stringify(ctl)}`);
  assert.deepEqual(Object.entries(ctl).filter(([, v]) => v !== 'ok'), [], 'control: every socket opens outside a pod');
  const raw = await podWith(ctx, profile({ network: [rule('Block', { type: 'protocol', protocol: 'raw' }), rule('Block', { type: 'protocol', protocol: 'tcp' })] }));
  const r = await pyJson(ctx, raw.cg, code);
  ctx.log(JSON.stringify(r));
  assert.deepEqual(r, { 'packet-dgram': 'EPERM', 'packet-raw': 'EPERM', 'sock-packet': 'EPERM', mptcp: 'EPERM', tcp: 'EPERM', netlink: 'ok', unix: 'ok' });
  await blocked(raw, 'socket');
  const allow = await podWith(ctx, profile({ network: [rule('Allow', { type: 'protocol', protocol: 'tcp' })] }, { network: 'block' }));
  const a = await pyJson(ctx, allow.cg, code);
  ctx.log(JSON.stringify(a));
  assert.equal(a.tcp, 'ok');
  assert.equal(a.mptcp, 'ok', 'MPTCP is tcp');
  assert.equal(a.netlink, 'EPERM', 'a family with no protocol rule of its own: the posture');
  assert.equal(a['packet-raw'], 'EPERM');
  assert.equal(a.unix, 'ok', 'unix sockets are not network');
});

scenario('attack: renaming or linking a rule\'s directory, or a blocked program, is refused', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  const setup = (): void => {
    mkdirSync('/srv/data/keys', { recursive: true });
    writeFileSync('/srv/data/keys/k', 'key\n');
    mkdirSync('/srv/bin', { recursive: true });
    copyFileSync('/usr/bin/true', '/srv/bin/tool');
  };
  setup();
  const code = `${TRY}
t('mv-parent', lambda: os.rename('/srv/data', '/srv/moved'))
t('mv-program', lambda: os.rename('/srv/bin/tool', '/srv/tool2'))
t('mv-bindir', lambda: os.rename('/srv/bin', '/srv/bin2'))
t('ln-program', lambda: os.link('/srv/bin/tool', '/srv/tool3'))
print(json.dumps(r))
`;
  // control: the program is moved first, so its directory is renamed without it, and the link
  // names the moved program
  const ctl = await pyJson(ctx, null, code.replace("'/srv/bin/tool', '/srv/tool3'", "'/srv/tool2', '/srv/tool3'"));
  assert.deepEqual(ctl, { 'mv-parent': 'ok', 'mv-program': 'ok', 'mv-bindir': 'ok', 'ln-program': 'ok' }, 'control');
  // put everything back for the pod
  await ctx.runIn(null, ['/bin/sh', '-c', 'rm -rf /srv/moved /srv/data /srv/bin /srv/bin2 /srv/tool2 /srv/tool3']);
  setup();
  const pod = await podWith(ctx, profile({
    file: [rule('Block', { type: 'directory', dir: '/srv/data/keys/', recursive: true })],
    process: [rule('Block', { type: 'path', path: '/srv/bin/tool' })],
  }));
  const r = await pyJson(ctx, pod.cg, code);
  ctx.log(JSON.stringify(r));
  assert.deepEqual(r, { 'mv-parent': 'EPERM', 'mv-program': 'EPERM', 'mv-bindir': 'EPERM', 'ln-program': 'EPERM' });
  await blocked(pod, 'rename', /^\/srv\/data$/);
  // an unrelated rename in the pod still works
  writeFileSync('/srv/free', 'x\n');
  const free = await pyJson(ctx, pod.cg, `${TRY}\nt('mv', lambda: os.rename('/srv/free', '/srv/free2'))\nprint(json.dumps(r))\n`);
  assert.deepEqual(free, { mv: 'ok' });
});

scenario('attack: a user namespace of the pod\'s own keeps every rule, and may not mount', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  writeFileSync('/srv/secret', 's\n');
  const inner = `${TRY}
t('read', lambda: open('/srv/secret').read())
t('raw', lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close())
print(json.dumps(r))
`;
  const argv = ['/usr/bin/unshare', '-Urn', '/usr/bin/python3', '-c', inner];
  const mount = ['/usr/bin/unshare', '-Urm', '/bin/sh', '-c', 'mkdir -p /srv/mnt && mount --bind /srv /srv/mnt && echo mounted'];
  const c = await ctx.runIn(null, argv);
  assert.equal(c.code, 0, c.stderr);
  assert.deepEqual(JSON.parse(c.stdout), { read: 'ok', raw: 'ok' }, 'control: in a user namespace of its own, root may open raw sockets');
  const cm = await ctx.runIn(null, mount);
  assert.equal(cm.code, 0, `control mount: ${cm.stderr}`);
  const pod = await podWith(ctx, profile({
    file: [rule('Block', { type: 'path', path: '/srv/secret' })],
    capabilities: [rule('Block', { type: 'capability', capability: 'net_raw' })],
  }));
  const r = await ctx.runIn(pod.cg, argv);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { read: 'EPERM', raw: 'EPERM' });
  const m = await ctx.runIn(pod.cg, mount);
  ctx.log(`mount in the pod: code ${m.code} ${m.stderr.trim()}`);
  assert.notEqual(m.code, 0, 'a bind mount from a user namespace the pod made');
  assert.doesNotMatch(m.stdout, /mounted/);
  await blocked(pod, 'mount');
  await blocked(pod, 'capable');
});
