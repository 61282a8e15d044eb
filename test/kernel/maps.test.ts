// The Kernel API over real BPF maps on this host (which loads maps and tracepoints but
// refuses LSM programs): setPod writes a new generation and flips it, replacing leaves
// no entry of the old one, removePod and sweep leave nothing, 10,000 rules go in batches.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { openMapsOnly } from '../../enforcer/kernel/index.ts';
import { LAYOUT, encodeSrcKey } from '../../enforcer/kernel/layout.ts';
import { KERNEL_LIMITS } from '../../policy/kernel-limits.ts';
import { batchOpts, libbpf, mapKeys } from '../../enforcer/kernel/libbpf.ts';
import { DEFAULT_OBJECT } from '../../enforcer/kernel/loader.ts';
import type { Profile, ProfileRule, Target } from '../../policy/types.ts';

function rule(target: Target, more: Partial<ProfileRule> = {}): ProfileRule {
  return { action: 'Block', target, readOnly: false, ownerOnly: false, fromSource: '', containers: [], policies: ['p'], severity: 1, tags: [], message: '', ...more };
}
function profile(file: ProfileRule[], process: ProfileRule[] = []): Profile {
  return { version: 1, posture: { file: 'block', network: 'block', capabilities: 'block', process: 'block' }, process, file, network: [], capabilities: [] };
}

const UID = '6d5a1f7e-0c4b-4e7a-9d3c-2b1a0f9e8d7c';
const UID2 = '7e6b2a8f-1d5c-4f8b-8e4d-3c2b1a0f9e8d';

function open(t: { skip: (m: string) => void }): ReturnType<typeof openMapsOnly> | null {
  if (!existsSync(DEFAULT_OBJECT)) { t.skip(`skipped: ${DEFAULT_OBJECT} missing (npm run build:bpf)`); return null; }
  if (process.getuid?.() !== 0) { t.skip('skipped: creating BPF maps needs root'); return null; }
  const r = openMapsOnly({ pinDir: null });
  if (!r.ok) { t.skip(`skipped: this kernel refuses BPF maps here: ${r.error.message}`); return null; }
  return r;
}

test('setPod, replace, removePod and sweep keep the maps exact', async (t) => {
  const r = open(t);
  if (!r?.ok) return;
  const k = r.value;
  try {
    assert.ok(k.setPod({ uid: UID, namespace: 'ns', name: 'a', profile: profile([rule({ type: 'path', path: '/etc/shadow' }), rule({ type: 'directory', dir: '/etc/ssl/', recursive: true }, { fromSource: '/bin/cat' })]), containers: [{ name: 'c', cgroupId: 4242n }] }).ok);
    // two rules and the guard of /etc/ (renames may not move it)
    assert.deepEqual(k.counts(), { ok: true, value: { pods: 1, rules: 3, cgroups: 1 } });
    // replacement: the old generation stays for the grace period, then only the new one
    assert.ok(k.setPod({ uid: UID, namespace: 'ns', name: 'a', profile: profile([rule({ type: 'path', path: '/etc/passwd' })], [rule({ type: 'execname', name: 'apt' })]), containers: [{ name: 'c', cgroupId: 4242n }] }).ok);
    assert.deepEqual(k.counts(), { ok: true, value: { pods: 1, rules: 6, cgroups: 1 } });
    await new Promise((res) => setTimeout(res, 1100));
    assert.deepEqual(k.counts(), { ok: true, value: { pods: 1, rules: 3, cgroups: 1 } });
    assert.ok(k.setPod({ uid: UID2, namespace: 'ns', name: 'b', profile: profile([rule({ type: 'path', path: '/x' })]), containers: [{ name: 'c', cgroupId: 99n }] }).ok);
    assert.deepEqual(k.counts(), { ok: true, value: { pods: 2, rules: 4, cgroups: 2 } });
    assert.deepEqual(k.podUids(), [UID, UID2].sort());
    assert.deepEqual(k.sweep(new Set([4242n])), { ok: true, value: 1 });
    assert.ok(k.removePod(UID).ok);
    assert.ok(k.removePod(UID2).ok);
    assert.deepEqual(k.counts(), { ok: true, value: { pods: 0, rules: 0, cgroups: 0 } });
    // rules the kernel cannot enforce are reported
    assert.ok(k.setPod({ uid: UID, namespace: 'ns', name: 'a', profile: profile([rule({ type: 'pattern', pattern: '/tmp/[é]' })]), containers: [] }).ok);
    assert.equal(k.notEnforced(UID).length, 1);
    assert.match(k.notEnforced(UID)[0]!.reason, /automaton.*non-ASCII/);
    assert.equal(mapKeys(k.mapFd('patterns'), LAYOUT.ag_pat_key.size).length, 0, 'no automaton when its patterns do not fit');
    // a pattern is loaded as its kind's automaton, per generation, and goes with the pod
    assert.ok(k.setPod({ uid: UID, namespace: 'ns', name: 'a', profile: profile([rule({ type: 'pattern', pattern: '/tmp/*.sh' })]), containers: [] }).ok);
    assert.deepEqual(k.notEnforced(UID), []);
    assert.equal(mapKeys(k.mapFd('patterns'), LAYOUT.ag_pat_key.size).length, 1);
    assert.ok(k.removePod(UID).ok);
    assert.equal(mapKeys(k.mapFd('patterns'), LAYOUT.ag_pat_key.size).length, 0);
    // errors are values
    const bad = k.setPod({ uid: 'not-a-uid', namespace: 'ns', name: 'x', profile: profile([]), containers: [] });
    assert.equal(bad.ok, false);
  } finally {
    k.close();
  }
  assert.equal(k.counts().ok, false, 'closed');
});

test('10,000 rules: the 512 a profile may hold load in batches, strongest first, the rest reported; nothing left when removed', (t) => {
  const r = open(t);
  if (!r?.ok) return;
  const k = r.value;
  try {
    const rules = Array.from({ length: 10_000 }, (_, i) => rule({ type: 'path', path: `/srv/data/file${i}` }, { action: i % 20 === 0 ? 'Block' : 'Allow' }));
    const t0 = performance.now();
    assert.ok(k.setPod({ uid: UID, namespace: 'ns', name: 'big', profile: profile(rules), containers: [] }).ok);
    const ms = performance.now() - t0;
    t.diagnostic(`setPod with 10,000 rules (512 loaded): ${ms.toFixed(0)} ms`);
    const c0 = k.counts();
    assert.ok(c0.ok && c0.value.rules === KERNEL_LIMITS.rulesPerProfile + 2, 'and the guards of /srv/ and /srv/data/');
    const missing = k.notEnforced(UID);
    assert.equal(missing.length, 10_000 - KERNEL_LIMITS.rulesPerProfile);
    assert.ok(missing.every((m) => m.code === 'E_TOO_MANY' && m.rule.action === 'Allow'), 'the 500 Blocks load first');
    const t1 = performance.now();
    assert.ok(k.setPod({ uid: UID, namespace: 'ns', name: 'big', profile: profile(rules.slice(0, 500)), containers: [] }).ok);
    t.diagnostic(`replacing it with 500 rules: ${(performance.now() - t1).toFixed(0)} ms`);
    const c = k.counts();
    assert.ok(c.ok && c.value.rules === KERNEL_LIMITS.rulesPerProfile + 500 + 4, 'both generations during the grace period');
    assert.deepEqual(k.notEnforced(UID), []);
    assert.ok(k.removePod(UID).ok);
    const c2 = k.counts();
    assert.ok(c2.ok && c2.value.rules === 0);
  } finally {
    k.close();
  }
});

test('a full map leaves part of a profile out, reported; the rest goes live and other pods keep theirs', (t) => {
  const r = open(t);
  if (!r?.ok) return;
  const k = r.value;
  const lr = libbpf();
  assert.ok(lr.ok);
  const fd = k.mapFd('sources');
  try {
    assert.ok(k.setPod({ uid: UID2, namespace: 'ns', name: 'other', profile: profile([rule({ type: 'path', path: '/etc/shadow' })]), containers: [] }).ok);
    // fill the sources map (65,536 entries) with another pod id's keys
    const max = 65536;
    for (let i = 0; i < max; i += 4096) {
      const n = Math.min(4096, max - i);
      const keys = Buffer.concat(Array.from({ length: n }, (_, j) => encodeSrcKey(BigInt(i + j + 1), 0xfffffff0, 1)));
      const vals = Buffer.alloc(n * 512);
      lr.value.bpf_map_update_batch(fd, keys, vals, new Uint32Array([n]), batchOpts());
    }
    const p = profile([
      rule({ type: 'path', path: '/etc/passwd' }),
      rule({ type: 'path', path: '/etc/hosts' }, { fromSource: '/bin/cat', action: 'Allow' }),
    ]);
    const t0 = performance.now();
    const set = k.setPod({ uid: UID, namespace: 'ns', name: 'a', profile: p, containers: [] });
    t.diagnostic(`setPod over a full sources map: ${(performance.now() - t0).toFixed(1)} ms`);
    assert.ok(set.ok, 'the pod is enforced');
    const missing = k.notEnforced(UID);
    assert.deepEqual(missing.map((m) => [m.code, m.rule.fromSource]), [['E_MAP_FULL', '/bin/cat']]);
    assert.match(missing[0]!.reason, /sources map/);
    const c = k.counts();
    assert.ok(c.ok && c.value.pods === 2, 'both pods live');
    assert.ok(c.value.rules >= 3, 'every rule entry written (the one needing the source cannot match, and is reported)');
  } finally {
    k.removePod(UID);
    k.removePod(UID2);
    k.close();
  }
});
