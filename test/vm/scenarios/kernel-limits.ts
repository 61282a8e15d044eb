// Guest suite: the kernel side's limits never switch a pod off (issue 15). A profile with more
// rules on one target than a map slot holds (across policies) still has its Block in force; a
// hostile signed profile (maximum rules and path lengths, every kind) is verified and loaded in
// under a second, and another pod keeps its rules throughout.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { MAX_DECODED_PROFILE_BYTES, encodeProfile } from '../../../policy/profile-codec.ts';
import { KERNEL_LIMITS } from '../../../policy/kernel-limits.ts';
import { signProfile, verifyAnnotations } from '../../../policy/sign.ts';
import { ANN_POLICIES, ANN_POSTURE, ANN_PROFILE, ANN_PROFILE_DIGEST, ANN_PROFILE_SIGNATURE } from '../../../policy/annotations.ts';
import { formatPosture } from '../../../policy/posture.ts';
import type { Profile, ProfileRule } from '../../../policy/types.ts';
import { ONE_BOOT_PER_KERNEL, scenario } from '../../../vm/guest/scenario.ts';
import { podWith, profile, py, rule } from '../../../vm/guest/kit/kernel.ts';

const READ = (p: string): string[] => py(`
import errno
try:
    open(${JSON.stringify(p)}).read(); print('ok')
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
`);

scenario('limits: eleven rules on one target across policies: the Block stays in force, the rest reported', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  mkdirSync('/srv/limits', { recursive: true });
  writeFileSync('/srv/limits/secret', 'secret\n');
  writeFileSync('/srv/limits/open', 'open\n');
  const target = { type: 'path' as const, path: '/srv/limits/secret' };
  // ten policies each allow reads for one container (readOnly Allow: no Block overrules them);
  // one blocks the file for every container. 11 rules on one key, AG_MAX_ENT is 8
  const containers = Array.from({ length: 10 }, (_, i) => `c${i}`);
  const rules: ProfileRule[] = [
    ...containers.map((c) => rule('Allow', target, { readOnly: true, containers: [c], policies: [`test/allow-${c}`] })),
    rule('Block', target, { policies: ['test/block-secret'] }),
    // Audits for some containers: overruled by the Block wherever they apply, merged away
    ...containers.slice(0, 5).map((c) => rule('Audit', target, { containers: [c], policies: [`test/audit-${c}`] })),
  ];
  const t0 = performance.now();
  const pod = await podWith(ctx, profile({ file: rules }, { file: 'audit' }), { containers: ['main', ...containers] });
  ctx.log(`profile with ${rules.length} rules on one target loaded in ${(performance.now() - t0).toFixed(1)} ms (pod and cgroup set-up included)`);
  const missing = pod.kernel.notEnforced(pod.uid);
  ctx.log(`not loaded: ${missing.map((m) => `${m.code} ${m.rule.action} [${m.rule.policies.join(',')}]`).join('; ')}`);
  assert.equal(missing.length, 3, 'eleven that each decide something, eight loaded');
  assert.ok(missing.every((m) => m.code === 'E_TOO_MANY' && m.rule.action === 'Allow'), 'only Allows left out: the Block is in force');
  const r = await ctx.runIn(pod.cg, READ('/srv/limits/secret'));
  assert.equal(r.stdout.trim(), 'EPERM', `the Block denies: ${r.stdout} ${r.stderr}`);
  const o = await ctx.runIn(pod.cg, READ('/srv/limits/open'));
  assert.equal(o.stdout.trim(), 'ok', 'a file no rule names is allowed (posture audit, no allow-list for this container)');
  await pod.waitEvent((e) => e.target === '/srv/limits/secret' && e.denied && e.rule?.policies[0] === 'test/block-secret');
  // replaced: a new generation, a new seed; the Block is still found
  const again = pod.kernel.setPod({ uid: pod.uid, namespace: 'test', name: 'pod', profile: profile({ file: rules }, { file: 'audit' }), containers: ['main', ...containers].map((name) => ({ name })) });
  assert.ok(again.ok);
  const r2 = await ctx.runIn(pod.cg, READ('/srv/limits/secret'));
  assert.equal(r2.stdout.trim(), 'EPERM', 'under the next generation (another seed) too');
// what loads and what is reported is the maps' and the enforcer's, the same in both attach modes
}, { timeoutMs: 240_000, on: ONE_BOOT_PER_KERNEL });

/** A path of exactly `bytes` bytes under /srv/hostile, unique by i. */
function longPath(i: number, bytes: number): string {
  const tail = `/${String(i).padStart(8, '0')}`;
  const head = '/srv/hostile';
  let mid = '';
  while (head.length + mid.length + tail.length < bytes) mid += '/' + 'd'.repeat(Math.min(200, bytes - head.length - mid.length - tail.length - 1));
  return (head + mid + tail).slice(0, bytes);
}

const HOSTILE_CONTAINERS = ['main', ...Array.from({ length: 12 }, (_, i) => `x${i}`)];

/** The largest profile a signed annotation can carry to the enforcer: the longest paths
 *  (KERNEL_LIMITS.pathBytes) and sources, every kind and target type, readOnly/ownerOnly/
 *  recursive/containers mixed, as many rules as fit in MAX_DECODED_PROFILE_BYTES of JSON and
 *  KERNEL_LIMITS.rulesPerProfile; plus what is past the kernel's limits (twelve rules on one
 *  key, a target and a source too long, a glob the pattern automaton cannot hold). */
export function hostileProfile(): Profile {
  const max = KERNEL_LIMITS.pathBytes;
  const extra: { kind: 'file'; rule: ProfileRule }[] = [];
  for (let i = 0; i < 12; i++) extra.push({ kind: 'file', rule: rule('Allow', { type: 'path', path: '/srv/hostile/crowded' }, { readOnly: true, containers: [`x${i}`] }) });
  extra.push({ kind: 'file', rule: rule('Block', { type: 'path', path: '/srv/' + 'z'.repeat(600) }) });
  extra.push({ kind: 'file', rule: rule('Block', { type: 'path', path: '/srv/x' }, { fromSource: '/' + 'y'.repeat(600) }) });
  extra.push({ kind: 'file', rule: rule('Block', { type: 'pattern', pattern: '/srv/**/*.k[é]y' }) }); // a set the automaton cannot hold
  const out = profile({}, { file: 'audit', process: 'audit', network: 'audit', capabilities: 'audit' });
  out.network = (['tcp', 'udp', 'icmp', 'icmpv6', 'raw', 'sctp', 'stream', 'dgram', 'rdm', 'seqpacket', 'dccp', 'packet', 'all'] as const).map((p) => rule('Audit', { type: 'protocol', protocol: p }, { fromSource: '/usr/bin/curl' }));
  out.capabilities = ['net_raw', 'sys_admin', 'chown', 'setuid', 'bpf', 'perfmon'].map((c) => rule('Block', { type: 'capability', capability: c }, { fromSource: '/bin/ping' }));
  let bytes = 2048;
  let count = out.network.length + out.capabilities.length;
  for (const x of extra) { out[x.kind].push(x.rule); bytes += JSON.stringify(x.rule).length + 1; count++; }
  for (let i = 0; count < KERNEL_LIMITS.rulesPerProfile; i++) {
    const kind = i % 4 === 3 ? 'process' : 'file';
    const action = (['Allow', 'Audit', 'Block'] as const)[i % 3]!;
    const target = i % 8 === 7 ? { type: 'execname' as const, name: `tool-${i}`.padEnd(200, 'n') }
      : i % 2 === 0 ? { type: 'path' as const, path: longPath(i, max) } : { type: 'directory' as const, dir: longPath(i, max - 1) + '/', recursive: i % 4 === 1 };
    const r = rule(action, target, { readOnly: kind === 'file' && i % 5 === 0, ownerOnly: i % 6 === 0, fromSource: i % 9 === 0 ? longPath(i % 40, max) : '', containers: i % 7 === 0 ? ['main'] : [] });
    const n = JSON.stringify(r).length + 1;
    if (bytes + n > MAX_DECODED_PROFILE_BYTES) break;
    out[kind].push(r);
    bytes += n;
    count++;
  }
  return out;
}

function signed(p: Profile, key: Uint8Array): Record<string, string> {
  const enc = encodeProfile(p);
  return {
    [ANN_PROFILE]: enc.annotation, [ANN_PROFILE_DIGEST]: enc.digest, [ANN_PROFILE_SIGNATURE]: signProfile(key, 'test', enc.digest),
    [ANN_POSTURE]: formatPosture(p.posture), [ANN_POLICIES]: 'test/hostile@1',
  };
}

scenario('limits: hostile signed profiles load or are refused in under a second each, and other pods keep their rules', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  mkdirSync('/srv/limits', { recursive: true });
  writeFileSync('/srv/limits/other', 'other\n');
  const other = await podWith(ctx, profile({ file: [rule('Block', { type: 'path', path: '/srv/limits/other' })] }, { file: 'audit' }));
  const holds = async (when: string): Promise<void> => {
    const r = await ctx.runIn(other.cg, READ('/srv/limits/other'));
    assert.equal(r.stdout.trim(), 'EPERM', `the other pod keeps its Block ${when}`);
  };
  await holds('before');
  const { kernel } = other;
  const key = new TextEncoder().encode('vm-limits-signing-key-0123456789');
  const uid = randomUUID();
  ctx.defer(() => { kernel.removePod(uid); });
  /** What the enforcer does with a pod's annotations (reconciler: verify, then setPod), timed. */
  const load = (label: string, ann: Record<string, string>): { ms: number; ok: boolean; error?: string } => {
    const t0 = performance.now();
    const v = verifyAnnotations(ann, 'test', key);
    const t1 = performance.now();
    if (!v.ok) {
      ctx.log(`${label}: refused in ${(t1 - t0).toFixed(0)} ms: ${v.error.code} ${v.error.message}`);
      ctx.emit('hostile-load', { label, ok: false, verifyMs: t1 - t0, totalMs: t1 - t0 });
      return { ms: t1 - t0, ok: false, error: v.error.code };
    }
    const set = kernel.setPod({ uid, namespace: 'test', name: 'hostile', profile: v.value.profile, containers: HOSTILE_CONTAINERS.map((name) => ({ name })) });
    const t2 = performance.now();
    assert.ok(set.ok, set.ok ? '' : set.error.message);
    const n = v.value.profile.process.length + v.value.profile.file.length + v.value.profile.network.length + v.value.profile.capabilities.length;
    const missing = kernel.notEnforced(uid);
    ctx.log(`${label}: ${n} rules, annotation ${ann[ANN_PROFILE]!.length} bytes: verify+decode ${(t1 - t0).toFixed(0)} ms, setPod ${(t2 - t1).toFixed(0)} ms, total ${(t2 - t0).toFixed(0)} ms; not loaded: ${missing.length} (${[...new Set(missing.map((m) => m.code))].sort().join(', ')})`);
    ctx.emit('hostile-load', { label, ok: true, rules: n, verifyMs: t1 - t0, setPodMs: t2 - t1, totalMs: t2 - t0 });
    return { ms: t2 - t0, ok: true };
  };
  // a running enforcer has verified and loaded profiles before (V8 has compiled the paths, which
  // under TCG takes seconds): warm the same code with ordinary profiles of a few hundred rules
  for (let w = 0; w < 3; w++) {
    const rs = Array.from({ length: 300 }, (_, i) => rule(i % 3 === 0 ? 'Allow' : 'Block', i % 2 ? { type: 'path', path: `/srv/warm/${w}/${i}` } : { type: 'directory', dir: `/srv/warm/${w}/d${i}/`, recursive: true }, { fromSource: i % 5 ? '' : '/bin/sh', readOnly: i % 4 === 0 }));
    load(`warm-up ${w + 1} (an ordinary profile)`, signed(profile({ file: rs, process: rs.slice(0, 50) }), key));
  }
  const times: number[] = [];
  const big = hostileProfile();
  // the first profile of this size also pays V8 compiling the loops for it (seconds under TCG):
  // logged and bounded apart; every later load is what a node sees
  const first = load('largest profile, first load', signed(big, key));
  assert.ok(first.ok);
  await holds('after the first load');
  const r = load('largest profile, replaced (new generation)', signed(big, key));
  assert.ok(r.ok);
  times.push(r.ms);
  await holds('after the replacement');
  const missing = kernel.notEnforced(uid);
  assert.deepEqual([...new Set(missing.map((m) => m.code))].sort(), ['E_PATTERN', 'E_TOO_LONG', 'E_TOO_MANY']);
  assert.equal(missing.filter((m) => m.code === 'E_TOO_MANY').length, 4, 'twelve on one key, eight loaded');
  // more rules than a profile may hold (short paths): the strongest load, the rest reported
  const many = profile({ file: Array.from({ length: 2500 }, (_, i) => rule(i % 8 === 0 ? 'Block' : 'Allow', { type: 'path', path: `/srv/m/${i}` })) });
  const rm = load('2,500 short rules', signed(many, key));
  assert.ok(rm.ok);
  times.push(rm.ms);
  assert.equal(kernel.notEnforced(uid).length, 2500 - KERNEL_LIMITS.rulesPerProfile);
  // past the JSON an enforcer decodes: refused, the previous generation stays
  const bomb = profile({ file: Array.from({ length: 9000 }, (_, i) => rule('Block', { type: 'path', path: `/srv/bomb/${'b'.repeat(100)}/${i}` })) });
  const rb = load('past the decoded-size limit', signed(bomb, key));
  assert.equal(rb.error, 'E_PROFILE_INVALID');
  times.push(rb.ms);
  await holds('at the end');
  ctx.log(`load times: first ${first.ms.toFixed(0)} ms (V8 compiling), then ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
  // AG_VM_LOAD_BUDGET_MS: the budget on a machine whose cores other guests share (TCG slows by
  // the share it gets); the goal is 1 s
  const budget = Number(process.env.AG_VM_LOAD_BUDGET_MS ?? 1000);
  assert.ok(times.every((ms) => ms < budget), `each load or refusal under ${budget} ms: ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
  assert.ok(first.ms < 5 * budget, `the first load, V8 compiling included, under ${5 * budget} ms: ${first.ms.toFixed(0)} ms`);
}, { timeoutMs: 180_000, on: ONE_BOOT_PER_KERNEL });
