// Guest suite: matchPatterns in the kernel (bpf/pattern.h), in real runc containers of a pod,
// each with a control container outside every pod where the same act succeeds.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { compile } from '../../../policy/compile.ts';
import { parseDocuments } from '../../../policy/parse.ts';
import { validatePolicy } from '../../../policy/validate.ts';
import { scenario, type Container, type ScenarioContext } from '../../../vm/guest/scenario.ts';
import type { Pod, Policy, Profile } from '../../../policy/types.ts';
import { EPERM_RE, loadPod, podWith, profile, rule, type LoadedPod } from '../../../vm/guest/kit/kernel.ts';
import { KUBEARMOR_DATA } from '../../policy/kubearmor-data.ts';

const FILES = [
  '/srv/p/a.key', '/srv/p/a.txt', '/srv/p/prefix-1', '/srv/p/xprefix', '/srv/p/amidz', '/srv/p/amid', '/srv/p/q.one', '/srv/p/qq.one',
  '/srv/p/5.num', '/srv/p/x.num', '/srv/p/red.col', '/srv/p/green.col', '/srv/d/x/deep.txt', '/srv/d/x/y/z/deep.txt', '/srv/d/deep.txt',
  '/srv/p/sub/a.key',
];
/** 618 bytes: the walk goes over three of its 256-byte chunks */
const LONG = `/srv/d/${'x'.repeat(200)}/${'y'.repeat(200)}/${'z'.repeat(200)}/deep.txt`;
FILES.push(LONG, LONG.replace('deep.txt', 'deep.txz'));

async function podOf(ctx: ScenarioContext, p: Profile, files: string[] = FILES): Promise<{ pod: LoadedPod; app: Container; control: Container }> {
  const uid = randomUUID();
  const pod = await loadPod(ctx, p, { uid, containers: ['app'] });
  const opts = { files: Object.fromEntries(files.map((f) => [f, 'data\n'])) };
  const app = await ctx.container({ pod: { uid }, driver: 'systemd', ...opts });
  const control = await ctx.container(opts);
  return { pod, app, control };
}

/** What `cat FILE` does with each file, in one exec of a shell in the container (an exec is slow
 *  under TCG): 'ok', 'EPERM', or the error */
async function reads(c: Container, files: readonly string[]): Promise<Record<string, string>> {
  if (files.length === 0) return {};
  const script = 'for f in "$@"; do if e=$(/usr/bin/cat "$f" 2>&1 >/dev/null); then echo "$f=ok"; else echo "$f=$e"; fi; done';
  const r = await c.exec(['/bin/sh', '-c', script, 'sh', ...files]);
  assert.equal(r.code, 0, r.stderr);
  const out: Record<string, string> = {};
  for (const line of r.stdout.trim().split('\n')) {
    const i = line.indexOf('=');
    const [f, v] = [line.slice(0, i), line.slice(i + 1)];
    out[f] = v === 'ok' ? 'ok' : EPERM_RE.test(v) ? 'EPERM' : v;
  }
  return out;
}

scenario('patterns: Block globs deny what they match and nothing else (prefix, suffix, middle *, ?, sets, braces, ** at 1 and 3 levels)', async (ctx) => {
  const pats = ['/srv/p/*.key', '/srv/p/prefix*', '/srv/p/a*z', '/srv/p/?.one', '/srv/p/[0-9].num', '/srv/p/{red,blue}.col', '/srv/d/**/deep.txt'];
  const { pod, app, control } = await podOf(ctx, profile({ file: pats.map((p) => rule('Block', { type: 'pattern', pattern: p })) }, { file: 'audit' }));
  const denied = new Set(['/srv/p/a.key', '/srv/p/prefix-1', '/srv/p/amidz', '/srv/p/q.one', '/srv/p/5.num', '/srv/p/red.col', '/srv/d/x/deep.txt', '/srv/d/x/y/z/deep.txt', LONG]);
  assert.deepEqual(await reads(app, FILES), Object.fromEntries(FILES.map((f) => [f, denied.has(f) ? 'EPERM' : 'ok'])));
  assert.deepEqual(await reads(control, FILES), Object.fromEntries(FILES.map((f) => [f, 'ok'])), 'outside the pod every read works');
  const e = await pod.waitEvent((x) => x.denied && x.target === '/srv/p/a.key');
  assert.equal(e.rule?.target.type === 'pattern' && e.rule.target.pattern, '/srv/p/*.key');
});

scenario('patterns: exec by pattern', async (ctx) => {
  const { app, control } = await podOf(ctx, profile({ process: [rule('Block', { type: 'pattern', pattern: '/usr/bin/h*d' })] }, { process: 'audit', file: 'audit' }), ['/srv/p/a.txt']);
  // through a shell, which says why the exec failed (runc exec's own error says less)
  const head = await app.exec(['/bin/sh', '-c', '/usr/bin/head /srv/p/a.txt']);
  assert.notEqual(head.code, 0, 'head matches /usr/bin/h*d');
  assert.match(head.stderr + head.stdout, EPERM_RE);
  assert.equal((await app.exec(['/usr/bin/cat', '/srv/p/a.txt'])).code, 0, 'cat does not');
  assert.equal((await control.exec(['/usr/bin/head', '/srv/p/a.txt'])).code, 0, 'outside the pod head runs');
});

// an allow-list of files: the system's own files, and the .key files of /srv/p by pattern
const ALLOW = ['/{usr,lib,lib64,bin,sbin,etc,dev,proc,sys,run,tmp}/**', '/srv/p/*.key'];

const READS = 'for f in "$@"; do if e=$(/usr/bin/cat "$f" 2>&1 >/dev/null); then echo "$f=ok"; else echo "$f=$e"; fi; done';

function parseReads(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.trim().split('\n')) {
    const i = line.indexOf('=');
    const v = line.slice(i + 1);
    out[line.slice(0, i)] = v === 'ok' ? 'ok' : EPERM_RE.test(v) ? 'EPERM' : v;
  }
  return out;
}

// Under a block posture a file allow-list also binds runc's own set-up in the pod's cgroup (its
// opens before pivot_root name the node's paths), so no container of such a pod starts: this
// scenario runs a shell in a kubelet-style pod cgroup instead (podWith, ctx.runIn).
scenario('patterns: Allow patterns make an allow-list that keeps what they allow (block posture)', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  const want = { '/srv/p/a.key': 'ok', '/srv/p/a.txt': 'EPERM', '/srv/p/sub/a.key': 'EPERM', '/srv/d/deep.txt': 'EPERM' };
  for (const f of Object.keys(want)) { mkdirSync(dirname(f), { recursive: true }); writeFileSync(f, 'data\n'); }
  const pod = await podWith(ctx, profile({ file: ALLOW.map((p) => rule('Allow', { type: 'pattern', pattern: p })) }, { file: 'block', process: 'audit' }));
  const inPod = await ctx.runIn(pod.cg, ['/bin/sh', '-c', READS, 'sh', ...Object.keys(want)]);
  assert.equal(inPod.code, 0, inPod.stderr);
  assert.deepEqual(parseReads(inPod.stdout), want);
  const outside = await ctx.runIn(null, ['/bin/sh', '-c', READS, 'sh', ...Object.keys(want)]);
  assert.deepEqual(parseReads(outside.stdout), Object.fromEntries(Object.keys(want).map((f) => [f, 'ok'])), 'outside any pod every read works');
  const e = await pod.waitEvent((x) => x.denied && x.target === '/srv/p/a.txt');
  assert.equal(e.rule, null, 'decided by the posture');
});

scenario('patterns: Allow patterns under audit posture allow all, auditing what they do not allow', async (ctx) => {
  const { pod, app } = await podOf(ctx, profile({ file: ALLOW.map((p) => rule('Allow', { type: 'pattern', pattern: p })) }, { file: 'audit', process: 'audit' }));
  const want = { '/srv/p/a.key': 'ok', '/srv/p/a.txt': 'ok' };
  assert.deepEqual(await reads(app, Object.keys(want)), want);
  const e = await pod.waitEvent((x) => x.target === '/srv/p/a.txt');
  assert.equal(e.action, 'Audit');
  assert.equal(e.denied, false);
  assert.equal(pod.mine().some((x) => x.target === '/srv/p/a.key'), false, 'an allowed read is not reported');
});

scenario('patterns: 500 patterns in one profile, one automaton', async (ctx) => {
  const pats = Array.from({ length: 500 }, (_, i) => `/srv/pat/f${i}/*`);
  const files = ['/srv/pat/f0/x', '/srv/pat/f499/x', '/srv/pat/f500/x', '/srv/pat/f49/x/y'];
  const { pod, app, control } = await podOf(ctx, profile({ file: pats.map((p) => rule('Block', { type: 'pattern', pattern: p })) }, { file: 'audit' }), files);
  assert.deepEqual(pod.kernel.notEnforced(pod.uid), []);
  assert.deepEqual(await reads(app, files), { '/srv/pat/f0/x': 'EPERM', '/srv/pat/f499/x': 'EPERM', '/srv/pat/f500/x': 'ok', '/srv/pat/f49/x/y': 'ok' });
  assert.deepEqual(await reads(control, files), Object.fromEntries(files.map((f) => [f, 'ok'])));
});

// KubeArmor's own scenario steps that use patterns (tests/k8s_env/scenarios in kubearmor/KubeArmor),
// with the policies of the corpus in ../shared/kubearmor read in place
const CORPUS = join(KUBEARMOR_DATA, 'corpus');

/** The profile the policy core compiles from one corpus policy for a pod labelled container: ubuntu-1. */
function corpusProfile(file: string, posture: 'audit' | 'block'): Profile | null {
  const path = `${CORPUS}/${file}`;
  if (!existsSync(path)) return null;
  const v = validatePolicy(parseDocuments(readFileSync(path, 'utf8'))[0]!.value);
  assert.ok(v.policy, JSON.stringify(v.problems));
  const policy = v.policy as Policy;
  const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'ubuntu-1', namespace: policy.metadata.namespace ?? 'default', uid: randomUUID(), labels: { container: 'ubuntu-1' } }, spec: { containers: [{ name: 'ubuntu-1' }] } };
  const all = { file: posture, network: posture, capabilities: posture, process: posture };
  const r = compile(pod, null, [policy], { defaultPosture: all, signingKey: null });
  assert.ok(r.ok && r.value.profile, r.ok ? 'no profile' : r.error.message);
  return r.value.profile;
}

scenario('patterns: KubeArmor github_test_03 / multiubuntu_test_11 (ksp-ubuntu-1-file-pattern-block: /etc/*hado?)', async (ctx) => {
  const p = corpusProfile('tests__k8s_env__scenarios__github_test_03__ksp-ubuntu-1-file-pattern-block.yaml', 'audit');
  if (p === null) { ctx.log(`skipped: ${CORPUS} is absent`); return; }
  const { pod, app, control } = await podOf(ctx, p, []);
  const want = { '/etc/shadow': 'EPERM', '/etc/gshadow': 'EPERM', '/etc/hostname': 'ok' };
  assert.deepEqual(await reads(app, Object.keys(want)), want, 'cmd1 cat /etc/shadow failed, cmd2 cat /etc/gshadow failed, cmd3 cat /etc/hostname passed');
  assert.deepEqual(await reads(control, Object.keys(want)), { '/etc/shadow': 'ok', '/etc/gshadow': 'ok', '/etc/hostname': 'ok' });
  const e = await pod.waitEvent((x) => x.denied && x.target === '/etc/gshadow');
  assert.deepEqual(e.rule?.policies, ['github/ksp-ubuntu-1-file-pattern-block']);
});

scenario('patterns: ksp-ubuntu-1-file-pattern-allow keeps /etc/*hado? allowed in its allow-list (audit posture: the rest audited)', async (ctx) => {
  const p = corpusProfile('examples__multiubuntu__security-policies__ksp-ubuntu-1-file-pattern-allow.yaml', 'audit');
  if (p === null) { ctx.log(`skipped: ${CORPUS} is absent`); return; }
  const { pod, app } = await podOf(ctx, p, []);
  assert.deepEqual(await reads(app, ['/etc/shadow', '/etc/hostname']), { '/etc/shadow': 'ok', '/etc/hostname': 'ok' });
  const e = await pod.waitEvent((x) => x.target === '/etc/hostname' && x.kind === 'file');
  assert.equal(e.action, 'Audit');
  assert.equal(e.rule, null, 'outside the allow-list: the posture');
  assert.equal(pod.mine().some((x) => x.target === '/etc/shadow'), false, 'the pattern allows /etc/shadow: no event');
});
