// Guest suite: network protocols, capabilities, and fromSource for exec, file,
// network and capabilities.
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { scenario } from '../../../vm/guest/scenario.ts';
import { decodeConfig, type NodeSummary } from '../../../enforcer/kernel/layout.ts';
import { PIN_DIR, podWith, profile, py, rule } from '../../../vm/guest/kit/kernel.ts';

const SOCKETS = `
import socket, json, errno
r = {}
def t(name, *a):
    try:
        socket.socket(*a).close(); r[name] = 'ok'
    except OSError as e:
        r[name] = errno.errorcode.get(e.errno, str(e.errno))
t('tcp', socket.AF_INET, socket.SOCK_STREAM)
t('tcp6', socket.AF_INET6, socket.SOCK_STREAM)
t('udp', socket.AF_INET, socket.SOCK_DGRAM)
t('raw-icmp', socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
t('raw-icmpv6', socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
t('raw-tcp', socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
t('unix', socket.AF_UNIX, socket.SOCK_STREAM)
print(json.dumps(r))
`;

async function sockets(ctx: Parameters<Parameters<typeof scenario>[1]>[0], cg: Parameters<typeof ctx.runIn>[0]): Promise<Record<string, string>> {
  const r = await ctx.runIn(cg, py(SOCKETS));
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, string>;
}

scenario('kernel: protocols: raw sockets refused, tcp/udp untouched, outside the pod all work', async (ctx) => {
  const pod = await podWith(ctx, profile({ network: [rule('Block', { type: 'protocol', protocol: 'raw' })] }));
  const r = await sockets(ctx, pod.cg);
  ctx.log(JSON.stringify(r));
  assert.deepEqual(r, { tcp: 'ok', tcp6: 'ok', udp: 'ok', 'raw-icmp': 'EPERM', 'raw-icmpv6': 'EPERM', 'raw-tcp': 'EPERM', unix: 'ok' });
  const o = await sockets(ctx, null);
  assert.deepEqual(Object.values(o).filter((v) => v !== 'ok'), [], 'outside the pod');
  const e = await pod.waitEvent((x) => x.hook === 'socket' && x.denied);
  assert.match(e.target, /raw/);
});

scenario('kernel: protocols: udp and icmp rules; allow-list of tcp with block posture', async (ctx) => {
  const udp = await podWith(ctx, profile({ network: [rule('Block', { type: 'protocol', protocol: 'udp' }), rule('Block', { type: 'protocol', protocol: 'icmp' })] }));
  const r = await sockets(ctx, udp.cg);
  assert.equal(r.udp, 'EPERM');
  assert.equal(r['raw-icmp'], 'EPERM');
  assert.equal(r['raw-icmpv6'], 'ok');
  assert.equal(r.tcp, 'ok');
  const allow = await podWith(ctx, profile({ network: [rule('Allow', { type: 'protocol', protocol: 'tcp' })] }, { network: 'block' }));
  const a = await sockets(ctx, allow.cg);
  assert.equal(a.tcp, 'ok');
  assert.equal(a.tcp6, 'ok');
  assert.equal(a.udp, 'EPERM', 'not listed: the block posture');
  assert.equal(a.unix, 'ok', 'unix sockets are not network rules');
});

scenario('kernel: capabilities: net_raw and chown', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  writeFileSync('/srv/c', 'c\n');
  const pod = await podWith(ctx, profile({ capabilities: [rule('Block', { type: 'capability', capability: 'net_raw' }), rule('Block', { type: 'capability', capability: 'chown' })] }));
  const r = await sockets(ctx, pod.cg);
  assert.equal(r['raw-icmp'], 'EPERM', 'CAP_NET_RAW refused');
  assert.equal(r.tcp, 'ok');
  const c = await ctx.runIn(pod.cg, ['/usr/bin/chown', '1000', '/srv/c']);
  assert.notEqual(c.code, 0, 'CAP_CHOWN refused');
  const e = await pod.waitEvent((x) => x.hook === 'capable' && x.denied);
  assert.match(e.target, /^CAP_/);
  assert.equal((await ctx.runIn(null, ['/usr/bin/chown', '1000', '/srv/c'])).code, 0, 'outside the pod chown works');
});

/** The node summary in the pinned agconfig map, read with bpftool (raw value bytes). */
async function nodeSummary(ctx: Parameters<Parameters<typeof scenario>[1]>[0]): Promise<NodeSummary | null> {
  const r = await ctx.runIn(null, ['bpftool', '-j', 'map', 'dump', 'pinned', `${PIN_DIR}/agconfig`]);
  assert.equal(r.code, 0, `bpftool: ${r.stderr}`);
  const rows = JSON.parse(r.stdout) as { value: string[] }[];
  return decodeConfig(Buffer.from(rows[0]!.value.map((x) => Number(x)))).summary;
}

scenario('kernel: sockets and capabilities no pod has a rule on pass before the pod lookup; the node summary follows pods', async (ctx) => {
  // socket() and capable() skip the pod lookup when no pod of the node has a rule on the
  // protocols or capability (or an allow-list): the summary must be widened before a pod's
  // new generation goes live and narrowed after pods change
  await ctx.mountTmpfs('/srv');
  writeFileSync('/srv/c', 'c\n');
  const a = await podWith(ctx, profile({ network: [rule('Block', { type: 'protocol', protocol: 'raw' })] }));
  assert.deepEqual(await nodeSummary(ctx), { netProtos: 1 << 4, caps: 0n, netAllowlist: false, capsAllowlist: false }, 'raw (bit 4) only');
  assert.equal((await sockets(ctx, a.cg)).tcp, 'ok');
  const bProfile = profile({ network: [rule('Block', { type: 'protocol', protocol: 'tcp' })], capabilities: [rule('Block', { type: 'capability', capability: 'chown' })] });
  const b = await podWith(ctx, bProfile);
  const rb = await sockets(ctx, b.cg);
  assert.equal(rb.tcp, 'EPERM', 'a pod that adds a protocol: its rule applies from its first socket()');
  assert.notEqual((await ctx.runIn(b.cg, ['/usr/bin/chown', '1000', '/srv/c'])).code, 0, 'and its capability rule');
  assert.equal((await sockets(ctx, a.cg)).tcp, 'ok', 'the other pod is not affected');
  assert.equal((await ctx.runIn(a.cg, ['/usr/bin/chown', '1000', '/srv/c'])).code, 0);
  const wide = await nodeSummary(ctx);
  assert.equal(wide?.netProtos, (1 << 4) | (1 << 0), 'raw and tcp');
  assert.equal(wide?.caps, 1n << 0n, 'CAP_CHOWN (0)');
  // b drops its tcp rule: narrowed after the flip, and tcp passes in b again
  const again = b.kernel.setPod({ uid: b.uid, namespace: 'test', name: 'pod', profile: profile({ network: [rule('Block', { type: 'protocol', protocol: 'raw' })] }), containers: [{ name: 'main' }] });
  assert.ok(again.ok);
  assert.equal((await sockets(ctx, b.cg)).tcp, 'ok');
  assert.deepEqual(await nodeSummary(ctx), { netProtos: 1 << 4, caps: 0n, netAllowlist: false, capsAllowlist: false });
  // a network allow-list anywhere: every socket() is looked up
  const c = await podWith(ctx, profile({ network: [rule('Allow', { type: 'protocol', protocol: 'udp' })] }, { network: 'block' }));
  assert.equal((await nodeSummary(ctx))?.netAllowlist, true);
  assert.equal((await sockets(ctx, c.cg)).tcp, 'EPERM', 'not allow-listed: the block posture');
  assert.equal((await sockets(ctx, a.cg)).tcp, 'ok');
  b.kernel.removePod(c.uid);
  assert.equal((await nodeSummary(ctx))?.netAllowlist, false, 'narrowed when the pod goes');
});

scenario('kernel: an exec the executable cache does not record takes the earlier executable away (a fromSource Allow does not pass on)', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  mkdirSync('/srv/t', { recursive: true });
  writeFileSync('/srv/t/token', 't\n');
  // a copy of cat under a path of AG_PATH_MAX (512) bytes or more: its exec is judged, but the
  // executable cache cannot hold its path
  const long = ['/srv', 'a'.repeat(200), 'b'.repeat(200), 'c'.repeat(150)].join('/');
  mkdirSync(long, { recursive: true });
  copyFileSync('/usr/bin/cat', `${long}/cat`);
  chmodSync(`${long}/cat`, 0o755);
  // only python reads the token with no alert: a file allow-list under the audit posture
  const pod = await podWith(ctx, profile({ file: [rule('Allow', { type: 'path', path: '/srv/t/token' }, { fromSource: '/usr/bin/python3.11' })] }, { file: 'audit' }));
  const tokenReads = (): string[] => pod.mine().filter((e) => e.type === 'decision' && e.hook === 'open' && e.target === '/srv/t/token').map((e) => `${e.action} ${e.source}`);
  // controls: python's own read makes no alert; the long-path cat run by a shell is audited
  const own = await ctx.runIn(pod.cg, py('print(open("/srv/t/token").read(), end="")'));
  assert.equal(own.code, 0, own.stderr);
  assert.equal(own.stdout, 't\n');
  const bySh = await ctx.runIn(pod.cg, [`${long}/cat`, '/srv/t/token']);
  assert.equal(bySh.code, 0, bySh.stderr);
  await pod.waitEvent((e) => e.hook === 'open' && e.target === '/srv/t/token' && e.action === 'Audit');
  assert.equal(tokenReads().length, 1, `one alert so far: ${JSON.stringify(tokenReads())}`);
  // python becomes the long-path cat in the same process: the read is cat's, not python's
  const r = await ctx.runIn(pod.cg, py(`import os; os.execv(${JSON.stringify(`${long}/cat`)}, ["cat", "/srv/t/token"])`));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 't\n');
  const end = Date.now() + 5000;
  while (tokenReads().length < 2 && Date.now() < end) await new Promise((res) => setTimeout(res, 25));
  const reads = tokenReads();
  assert.equal(reads.length, 2, `the exec'd cat's read is audited: ${JSON.stringify(reads)}`);
  assert.ok(!reads[1]!.endsWith('/usr/bin/python3.11'), reads[1]);
});

scenario('kernel: fromSource for exec, file, network and capabilities', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  mkdirSync('/srv/s', { recursive: true });
  writeFileSync('/srv/s/secret', 's\n');
  const pod = await podWith(ctx, profile({
    process: [rule('Block', { type: 'path', path: '/usr/bin/id' }, { fromSource: '/usr/bin/dash' })],
    file: [rule('Block', { type: 'path', path: '/srv/s/secret' }, { fromSource: '/usr/bin/cat' })],
    network: [rule('Block', { type: 'protocol', protocol: 'udp' }, { fromSource: '/usr/bin/python3.11' })],
    capabilities: [rule('Block', { type: 'capability', capability: 'net_raw' }, { fromSource: '/usr/bin/perl' })],
  }));
  // exec: dash calling id is blocked; python calling id is not
  assert.notEqual((await ctx.runIn(pod.cg, ['/usr/bin/id'])).code, 0, 'dash → id blocked');
  const viaPy = await ctx.runIn(pod.cg, py('import os; os.execv("/usr/bin/id", ["id"])'));
  assert.equal(viaPy.code, 0, `python → id allowed: ${viaPy.stderr}`);
  const ev = await pod.waitEvent((x) => x.hook === 'exec' && x.denied);
  assert.equal(ev.source, '/usr/bin/dash');
  // file: cat may not read the secret, head may
  assert.notEqual((await ctx.runIn(pod.cg, ['/usr/bin/cat', '/srv/s/secret'])).code, 0, 'cat blocked');
  assert.equal((await ctx.runIn(pod.cg, ['/usr/bin/head', '/srv/s/secret'])).code, 0, 'head allowed');
  // one process before and after an exec (ag_who's memo of the source check): python reads the
  // secret (not the source), then becomes cat, whose read is refused; the control first: python
  // reads it and execs head, which reads it too
  const control = await ctx.runIn(pod.cg, py('import os; open("/srv/s/secret").read(); os.execv("/usr/bin/head", ["head", "/srv/s/secret"])'));
  assert.equal(control.code, 0, `python then head in one process: both read (${control.stderr})`);
  assert.equal(control.stdout, 's\n');
  const chain = await ctx.runIn(pod.cg, py('import os; open("/srv/s/secret").read(); os.execv("/usr/bin/cat", ["cat", "/srv/s/secret"])'));
  assert.notEqual(chain.code, 0, `python then cat in one process: cat blocked (${chain.stdout})`);
  assert.match(chain.stderr, /cat: \/srv\/s\/secret: Operation not permitted/);
  // network: python's udp socket refused, perl's allowed
  assert.notEqual((await ctx.runIn(pod.cg, py('import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)'))).code, 0, 'python udp blocked');
  const perlUdp = await ctx.runIn(pod.cg, ['/usr/bin/perl', '-e', 'use Socket; socket(my $s, PF_INET, SOCK_DGRAM, 0) or die "udp: $!"; print "ok"']);
  assert.equal(perlUdp.code, 0, `perl udp allowed: ${perlUdp.stderr}`);
  // capabilities: perl may not use CAP_NET_RAW, python may
  const perlRaw = await ctx.runIn(pod.cg, ['/usr/bin/perl', '-e', 'use Socket; socket(my $s, PF_INET, SOCK_RAW, 1) or die "raw: $!"; print "ok"']);
  assert.notEqual(perlRaw.code, 0, 'perl raw socket (CAP_NET_RAW) blocked');
  const pyRaw = await ctx.runIn(pod.cg, py('import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)'));
  assert.equal(pyRaw.code, 0, `python raw socket allowed: ${pyRaw.stderr}`);
});
