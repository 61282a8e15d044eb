// Guest suite: file rules. readOnly stops every way of changing a file or directory
// while reads pass; ownerOnly; a path longer than PATH_MAX denies under Block.
import assert from 'node:assert/strict';
import { chownSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scenario } from '../../../vm/guest/scenario.ts';
import { brief, EPERM_RE, kernelCounters, podWith, profile, py, rule } from '../../../vm/guest/kit/kernel.ts';
import type { Cgroup } from '../../../vm/guest/scenario.ts';

/** One python process tries every kind of access and prints {op: 'ok' | errno name}. */
const OPS = `
import os, json, errno
d = os.environ['D']
r = {}
def t(name, fn):
    try:
        fn(); r[name] = 'ok'
    except OSError as e:
        r[name] = errno.errorcode.get(e.errno, str(e.errno))
t('read', lambda: open(d + '/f').read())
t('stat', lambda: os.stat(d + '/f'))
t('write-open', lambda: open(d + '/f', 'a').close())
t('create', lambda: open(d + '/new', 'w').close())
t('create-rdonly', lambda: os.close(os.open(d + '/new2', os.O_CREAT | os.O_RDONLY)))
t('truncate', lambda: os.truncate(d + '/f', 0))
t('open-trunc', lambda: os.close(os.open(d + '/f', os.O_RDONLY | os.O_TRUNC)))
t('unlink', lambda: os.unlink(d + '/g'))
t('rename-from', lambda: os.rename(d + '/h', os.environ['OUT'] + '/h-moved'))
t('rename-into', lambda: os.rename(os.environ['OUT'] + '/x', d + '/x'))
t('link', lambda: os.link(d + '/f', d + '/f-link'))
t('link-out', lambda: os.link(d + '/f', os.environ['OUT'] + '/f-link'))
t('symlink', lambda: os.symlink('/etc/hostname', d + '/sym'))
t('chmod', lambda: os.chmod(d + '/f', 0o600))
t('chown', lambda: os.chown(d + '/f', 1000, 1000))
t('mkdir', lambda: os.mkdir(d + '/sub'))
t('rmdir', lambda: os.rmdir(d + '/emptydir'))
t('chmod-dir', lambda: os.chmod(d, 0o700))
print(json.dumps(r))
`;

async function fixture(dir: string, out: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  mkdirSync(out, { recursive: true });
  for (const f of ['f', 'g', 'h']) writeFileSync(join(dir, f), 'data\n');
  mkdirSync(join(dir, 'emptydir'), { recursive: true });
  writeFileSync(join(out, 'x'), 'x\n');
}

const WRITES = ['write-open', 'create', 'create-rdonly', 'truncate', 'open-trunc', 'unlink', 'rename-from', 'rename-into', 'link', 'link-out', 'symlink', 'chmod', 'chown', 'mkdir', 'rmdir', 'chmod-dir'];

scenario('kernel: readOnly stops every way of changing files and directories while reads pass', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  const pod = await podWith(ctx, profile({ file: [rule('Block', { type: 'directory', dir: '/srv/ro/', recursive: true }, { readOnly: true })] }));
  await fixture('/srv/ro', '/srv/out');
  const r = await ctx.runIn(pod.cg, py(OPS), { env: { D: '/srv/ro', OUT: '/srv/out' } });
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout) as Record<string, string>;
  ctx.log(JSON.stringify(res));
  assert.equal(res.read, 'ok');
  assert.equal(res.stat, 'ok');
  for (const op of WRITES) assert.equal(res[op], 'EPERM', `${op} must be refused with EPERM (got ${res[op]})`);
  const ev = await pod.waitEvent((e) => e.hook === 'unlink' && e.denied);
  assert.equal(ev.target, '/srv/ro/g');
  assert.equal(ev.kind, 'file');
  // the same operations outside the pod all work
  await fixture('/srv/ro2', '/srv/out2');
  const o = await ctx.runIn(null, py(OPS), { env: { D: '/srv/ro2', OUT: '/srv/out2' } });
  const outside = JSON.parse(o.stdout) as Record<string, string>;
  for (const op of ['read', ...WRITES]) assert.equal(outside[op], 'ok', `outside the pod ${op} works (got ${outside[op]})`);
  // and in the pod, outside the protected directory
  await fixture('/srv/free', '/srv/out3');
  const f = await ctx.runIn(pod.cg, py(OPS), { env: { D: '/srv/free', OUT: '/srv/out3' } });
  const free = JSON.parse(f.stdout) as Record<string, string>;
  for (const op of ['read', ...WRITES]) assert.equal(free[op], 'ok', `unprotected directory: ${op} works (got ${free[op]})`);
});

scenario('kernel: Block without readOnly stops reads too; exact path beats directory', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  mkdirSync('/srv/d', { recursive: true });
  writeFileSync('/srv/d/secret', 's\n');
  writeFileSync('/srv/d/open', 'o\n');
  const pod = await podWith(ctx, profile({ file: [
    rule('Block', { type: 'directory', dir: '/srv/d/', recursive: false }),
    rule('Audit', { type: 'path', path: '/srv/d/open' }),
  ] }));
  const r1 = await ctx.runIn(pod.cg, ['/usr/bin/cat', '/srv/d/secret']);
  assert.notEqual(r1.code, 0, 'blocked by the directory rule');
  const r2 = await ctx.runIn(pod.cg, ['/usr/bin/cat', '/srv/d/open']);
  assert.equal(r2.code, 0, `the exact Audit rule outranks the directory Block: ${r2.stderr}`);
  const a = await pod.waitEvent((e) => e.target === '/srv/d/open');
  assert.equal(a.action, 'Audit');
  assert.equal(a.rule?.target.type, 'path');
});

scenario('kernel: ownerOnly blocks everyone but the owner', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  mkdirSync('/srv/own', { recursive: true, mode: 0o755 });
  writeFileSync('/srv/own/f', 'mine\n', { mode: 0o644 });
  chownSync('/srv/own/f', 1000, 1000);
  const pod = await podWith(ctx, profile({ file: [rule('Block', { type: 'path', path: '/srv/own/f' }, { ownerOnly: true })] }));
  const owner = await ctx.runIn(pod.cg, ['/usr/bin/cat', '/srv/own/f'], { uid: 1000, gid: 1000 });
  assert.equal(owner.code, 0, `the owner reads: ${owner.stderr}`);
  const other = await ctx.runIn(pod.cg, ['/usr/bin/cat', '/srv/own/f']);
  assert.notEqual(other.code, 0, 'root is not the owner: blocked');
});

scenario('kernel: a path no buffer holds (over PATH_MAX) is denied under Block; long ones are judged by their rules; a deep short one resolves fully', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  let longDir = '/srv/deep';
  for (let i = 0; i < 40; i++) longDir += `/level${String(i).padStart(8, '0')}`;
  mkdirSync(longDir, { recursive: true });
  writeFileSync(join(longDir, 'f'), 'x\n');
  let shortDir = '/srv/deep';
  for (let i = 0; i < 40; i++) shortDir += '/a';
  mkdirSync(shortDir, { recursive: true });
  writeFileSync(join(shortDir, 'f'), 'x\n');
  assert.ok(join(longDir, 'f').length > 512, 'the long path exceeds a rule target\'s 510 bytes');
  // deeper than PATH_MAX: made and opened one relative step at a time
  const HUGE = `
import os, sys
os.chdir('/srv/deep')
for i in range(20):
    n = 'h%03d' % i + 'x' * 246
    if sys.argv[1] == 'make':
        os.makedirs(n, exist_ok=True)
    os.chdir(n)
if sys.argv[1] == 'make':
    open('f', 'w').write('x')
else:
    open('f').read()
`;
  const made = await ctx.runIn(null, ['/usr/bin/python3', '-c', HUGE, 'make']);
  assert.equal(made.code, 0, made.stderr);
  const pod = await podWith(ctx, profile({ file: [rule('Block', { type: 'directory', dir: '/srv/deep/a/', recursive: true })] }));
  const huge = await ctx.runIn(pod.cg, ['/usr/bin/python3', '-c', HUGE, 'open']);
  assert.notEqual(huge.code, 0, 'a path no buffer can hold (over 4096 bytes) is denied under Block, never allowed');
  assert.match(huge.stderr, /PermissionError|Operation not permitted/);
  const long = await ctx.runIn(pod.cg, py(`open(${JSON.stringify(join(longDir, 'f'))}).read()`));
  assert.equal(long.code, 0, `a long path no rule names opens (no over-block): ${long.stderr}`);
  const short = await ctx.runIn(pod.cg, py(`open(${JSON.stringify(join(shortDir, 'f'))}).read()`));
  assert.notEqual(short.code, 0, '40 levels deep under the blocked directory: blocked');
  const e = await pod.waitEvent((x) => x.target === join(shortDir, 'f'));
  assert.equal(e.denied, true, 'the full 40-level path is resolved and reported');
  const outside = await ctx.runIn(null, ['/usr/bin/python3', '-c', HUGE, 'open']);
  assert.equal(outside.code, 0, `outside the pod the huge path opens: ${outside.stderr}`);
});

scenario('kernel: a file in an overlay (a container root) is checked by the path the process opened, not by its layer path', async (ctx) => {
  // overlayfs opens the layer's file for the process (6.6+: a backing file whose path is the
  // layer's): that inner open must not be judged as if the process had opened the layer path,
  // or an allow-list pod could not read its own image
  await ctx.mountTmpfs('/srv');
  for (const d of ['/srv/lower/app', '/srv/upper', '/srv/work', '/srv/merged']) mkdirSync(d, { recursive: true });
  writeFileSync('/srv/lower/app/data', 'from the image\n');
  await ctx.modprobe('overlay');
  const m = await ctx.runIn(null, ['mount', '-t', 'overlay', 'overlay', '-o', 'lowerdir=/srv/lower,upperdir=/srv/upper,workdir=/srv/work', '/srv/merged']);
  assert.equal(m.code, 0, `mount overlay: ${m.stderr}`);
  ctx.defer(async () => { await ctx.runIn(null, ['umount', '/srv/merged']); });
  const dir = (d: string) => rule('Allow', { type: 'directory', dir: d, recursive: true });
  const pod = await podWith(ctx, profile({ file: [dir('/usr/'), dir('/etc/'), dir('/srv/merged/')] }, { file: 'block' }));
  const read = await ctx.runIn(pod.cg, ['/usr/bin/cat', '/srv/merged/app/data']);
  assert.equal(read.code, 0, `an allow-listed file read through the overlay: ${read.stderr}`);
  assert.equal(read.stdout, 'from the image\n');
  await new Promise((r) => setTimeout(r, 300)); // the ring buffer is polled every 20 ms
  assert.deepEqual(pod.mine().filter((x) => x.target.startsWith('/srv/lower')).map((x) => `${x.hook} ${x.target}`), [],
    'no decision on the layer path for the overlay read');
  const direct = await ctx.runIn(pod.cg, ['/usr/bin/cat', '/srv/lower/app/data']);
  assert.notEqual(direct.code, 0, 'the layer itself, opened by its own path, is not allow-listed');
  await pod.waitEvent((x) => x.target === '/srv/lower/app/data' && x.denied);
});

/** One python process opens each path of P (JSON list; 'fd:PATH' reopens PATH through
 *  /proc/self/fd after unlinking it, 'ls:PATH' lists a directory, 'w:PATH' opens to write)
 *  and prints {path: 'ok' | errno name}. */
const OPENS = `
import os, json, errno
r = {}
for p in json.loads(os.environ['P']):
    try:
        if p.startswith('fd:'):
            fd = os.open(p[3:], os.O_RDONLY)
            os.unlink(p[3:])
            os.close(os.open('/proc/self/fd/%d' % fd, os.O_RDONLY))
        elif p.startswith('ls:'):
            os.listdir(p[3:])
        elif p.startswith('w:'):
            open(p[2:], 'a').close()
        else:
            open(p).read()
        r[p] = 'ok'
    except OSError as e:
        r[p] = errno.errorcode.get(e.errno, str(e.errno))
print(json.dumps(r))
`;

scenario('kernel: opens no rule can name are decided without the path, and never wrongly (file shape)', async (ctx) => {
  // The open hook skips bpf_d_path when no component of the file's path has the depth, length
  // and first bytes of a file rule's last component (bpf/armorgate.h, struct ag_file_shape).
  // Each case here sits where that test could go wrong: names of equal length at the rule's
  // depth, a rule's component seen only across a mount, names stored outside the dentry
  // (40+ bytes) or past bit 63, a renamed file, depths past the last bucket, a reopened
  // unlinked file (whose path gets " (deleted)"), and a rule on "/".
  await ctx.mountTmpfs('/srv');
  const base = '/srv/sh';
  const long = `${'q'.repeat(66)}-target`;
  const deepRule = `${base}/${Array.from({ length: 16 }, (_, i) => `d${i}`).join('/')}/`;
  const deepOther = `${base}/${Array.from({ length: 15 }, (_, i) => `d${i}`).join('/')}/e15/`;
  for (const d of [`${base}/ssl`, `${base}/lib`, `${base}/mp`, `${base}/long`, `${base}/r`, `${base}/u`, deepRule, deepOther]) mkdirSync(d, { recursive: true });
  await ctx.mountTmpfs(`${base}/mp`); // a mount whose mountpoint is the rule's last component
  const files: Record<string, string> = {
    [`${base}/ssl/a`]: 'block', [`${base}/lib/a`]: 'ok', [`${base}/mp/f`]: 'block', [`${base}/long/${long}`]: 'block',
    [`${base}/long/${'q'.repeat(66)}-other0`]: 'ok', [`${deepRule}f`]: 'block', [`${deepOther}f`]: 'ok',
  };
  for (const f of Object.keys(files)) writeFileSync(f, 'x\n');
  writeFileSync(`${base}/r/tmp-name`, 'x\n');
  const pod = await podWith(ctx, profile({ file: [
    rule('Block', { type: 'directory', dir: `${base}/ssl/`, recursive: true }),
    rule('Block', { type: 'directory', dir: `${base}/mp/`, recursive: true }),
    rule('Block', { type: 'path', path: `${base}/long/${long}` }),
    rule('Block', { type: 'path', path: `${base}/r/tgt` }),
    rule('Block', { type: 'path', path: `${base}/r/${'t'.repeat(50)}` }),
    rule('Block', { type: 'directory', dir: deepRule, recursive: true }),
    rule('Block', { type: 'path', path: `${base}/u/gone (deleted)` }),
  ] }));
  // renamed outside the pod into rule targets: a short (inline) and a 50-byte (external) name
  writeFileSync(`${base}/r/tmp-long`, 'x\n');
  const mv = await ctx.runIn(null, py(`import os; os.rename('${base}/r/tmp-name', '${base}/r/tgt'); os.rename('${base}/r/tmp-long', '${base}/r/${'t'.repeat(50)}')`));
  assert.equal(mv.code, 0, mv.stderr);
  writeFileSync(`${base}/u/gone`, 'x\n');
  const paths = [...Object.keys(files), `${base}/r/tgt`, `${base}/r/${'t'.repeat(50)}`, `ls:${base}/ssl`, `ls:${base}/lib`, `fd:${base}/u/gone`];
  const want: Record<string, string> = { ...Object.fromEntries(Object.entries(files).map(([f, v]) => [f, v === 'block' ? 'EPERM' : 'ok'])),
    [`${base}/r/tgt`]: 'EPERM', [`${base}/r/${'t'.repeat(50)}`]: 'EPERM', [`ls:${base}/ssl`]: 'EPERM', [`ls:${base}/lib`]: 'ok', [`fd:${base}/u/gone`]: 'EPERM' };
  const r = await ctx.runIn(pod.cg, py(OPENS), { env: { P: JSON.stringify(paths) } });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), want);
  const gone = await pod.waitEvent((e) => e.target === `${base}/u/gone (deleted)`);
  assert.equal(gone.denied, true, 'the reopened unlinked file is judged by the path bpf_d_path gives it');
  // a rule on "/" itself: every path may match it
  const root = await podWith(ctx, profile({ file: [rule('Block', { type: 'directory', dir: '/', recursive: true }, { readOnly: true })] }));
  const rr = await ctx.runIn(root.cg, py(OPENS), { env: { P: JSON.stringify([`${base}/lib/a`, `w:${base}/lib/a`]) } });
  assert.equal(rr.code, 0, rr.stderr);
  assert.deepEqual(JSON.parse(rr.stdout), { [`${base}/lib/a`]: 'ok', [`w:${base}/lib/a`]: 'EPERM' });
});

scenario('kernel: in a file allow-list, a name no rule can name takes the posture\'s verdict without its path matched; each alert that goes names the path, the rest are counted', async (ctx) => {
  // A file allow-list (some Allow rule) gives every other name the posture's verdict, with an
  // alert. Where no component of the name matches the pod's file shape (no rule can name it), the
  // hooks skip the path match (the posture counter moves), take the alert's rate first and build
  // the path only for an alert that goes. busybox (static: it opens nothing to start) is the
  // allow-list's one program; each operation runs in a directory of its own, first outside any pod
  // (the control: it works there), then in a pod under each posture.
  await ctx.mountTmpfs('/srv');
  const bb = realpathSync('/bin/busybox');
  const dirFor = (name: string): string => {
    const d = `/srv/pl/${name}`;
    mkdirSync(d, { recursive: true });
    for (const f of ['f', 'g', 'ok.txt']) writeFileSync(`${d}/${f}`, 'x\n');
    return d;
  };
  const OPS: Record<string, string> = { read: 'cat f', allowed: 'cat ok.txt', create: 'echo x > new', chmod: 'chmod 600 f', unlink: 'rm g', mkdir: 'mkdir sub' };
  const run = async (cg: Cgroup | null, d: string): Promise<Record<string, string>> => {
    const out: Record<string, string> = {};
    for (const [op, cmd] of Object.entries(OPS)) {
      const r = await ctx.runIn(cg, [bb, 'sh', '-c', `cd ${d} && ${cmd}`]);
      out[op] = r.code === 0 ? 'ok' : EPERM_RE.test(r.stderr) ? 'EPERM' : `exit ${r.code}: ${r.stderr.trim()}`;
    }
    return out;
  };
  const allOk = Object.fromEntries(Object.keys(OPS).map((op) => [op, 'ok']));
  assert.deepEqual(await run(null, dirFor('control')), allOk, 'outside any pod every operation works');
  // what each operation alerts, by hook and path (the allowed read: nothing)
  const expected = (d: string): string[] => [`open ${d}/f`, `create ${d}/new`, `open ${d}/new`, `chmod ${d}/f`, `unlink ${d}/g`, `mkdir ${d}/sub`];
  for (const posture of ['block', 'audit'] as const) {
    const d = dirFor(posture);
    const rules = [rule('Allow', { type: 'path', path: bb }), rule('Allow', { type: 'path', path: `${d}/ok.txt` })];
    const pod = await podWith(ctx, profile({ file: rules }, { file: posture }));
    const c0 = await kernelCounters(ctx);
    const got = await run(pod.cg, d);
    const c1 = await kernelCounters(ctx);
    const want = posture === 'audit' ? allOk : { ...Object.fromEntries(Object.keys(OPS).map((op) => [op, 'EPERM'])), allowed: 'ok' };
    assert.deepEqual(got, want, `posture ${posture}`);
    // under Block the create is refused at path_mknod: no open of the new file follows
    const alerts = expected(d).filter((a) => posture === 'audit' || a !== `open ${d}/new`);
    await pod.waitEvent((e) => e.hook === 'mkdir');
    const seen = pod.mine().filter((e) => e.type === 'decision');
    for (const a of alerts) {
      const e = seen.find((x) => `${x.hook} ${x.target}` === a);
      assert.ok(e, `an alert for ${a}; the pod's: ${JSON.stringify(seen.map(brief))}`);
      assert.equal(e.rule, null, `${a}: the posture decided`);
      assert.equal(e.action, posture === 'block' ? 'Block' : 'Audit', a);
      assert.equal(e.denied, posture === 'block', a);
    }
    assert.ok(!seen.some((e) => e.target === `${d}/ok.txt`), 'the allowed file makes no alert');
    assert.ok(c1.posture - c0.posture >= alerts.length, `the posture decided ${c1.posture - c0.posture} hooks without the path matched, of ${alerts.length} alerts at least`);
    if (posture === 'block') continue;
    // over the rate: each open either alerted (with its path) or counted in a "dropped" event,
    // and the posture decided every one without the path
    assert.ok(pod.kernel.setEventRate(5).ok);
    ctx.defer(() => { pod.kernel.setEventRate(500); });
    const from = pod.mine().length;
    const r = await ctx.runIn(pod.cg, [bb, 'sh', '-c', `cd ${d} && i=0 && while [ $i -lt 60 ]; do read x < f; i=$((i+1)); done && sleep 2 && read x < f`]);
    assert.equal(r.code, 0, r.stderr);
    await pod.waitEvent((e) => e.type === 'dropped' && pod.mine().indexOf(e) >= from);
    await new Promise((res) => setTimeout(res, 300));
    const after = pod.mine().slice(from);
    const dropped = after.filter((e) => e.type === 'dropped').reduce((n, e) => n + (e.dropped ?? 0), 0);
    const delivered = after.filter((e) => e.type === 'decision');
    assert.ok(delivered.every((e) => e.target === `${d}/f` && e.hook === 'open' && e.rule === null && e.action === 'Audit'), JSON.stringify(delivered.map(brief)));
    ctx.log(`rate 5: delivered ${delivered.length}, dropped ${dropped}`);
    assert.equal(delivered.length + dropped, 61, `delivered ${delivered.length} + dropped ${dropped}`);
    assert.ok(delivered.length <= 20, `at most the rate per window got through: ${delivered.length}`);
  }
});
