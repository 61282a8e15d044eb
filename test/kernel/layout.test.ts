// The TypeScript mirror of bpf/armorgate.h checked against the real thing: struct sizes
// and member offsets from the BTF of build/armorgate.bpf.o (bpftool), constants from the
// header's #defines.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as L from '../../enforcer/kernel/layout.ts';
import { KERNEL_LIMITS } from '../../policy/kernel-limits.ts';
import { LIT_LEN } from '../../policy/pattern-dfa.ts';
import { PROJECT_ROOT } from '../../enforcer/kernel/loader.ts';

const OBJ = join(PROJECT_ROOT, 'build', 'armorgate.bpf.o');
const HEADER = join(PROJECT_ROOT, 'bpf', 'armorgate.h');

function bpftool(): string | null {
  for (const p of ['bpftool', '/usr/sbin/bpftool']) {
    try { execFileSync(p, ['version'], { stdio: 'ignore' }); return p; } catch { /* next */ }
  }
  return null;
}

/** struct name → { size, members: name → byte offset } from `bpftool btf dump ... format raw` */
function btfStructs(text: string): Map<string, { size: number; members: Map<string, number> }> {
  const out = new Map<string, { size: number; members: Map<string, number> }>();
  let cur: { size: number; members: Map<string, number> } | null = null;
  for (const line of text.split('\n')) {
    const s = /^\[\d+\] STRUCT '([^']+)' size=(\d+)/.exec(line);
    if (s) { cur = { size: Number(s[2]), members: new Map() }; out.set(s[1]!, cur); continue; }
    if (/^\[\d+\]/.test(line)) { cur = null; continue; }
    const m = /^\s+'([^']+)' type_id=\d+ bits_offset=(\d+)/.exec(line);
    if (m && cur) cur.members.set(m[1]!, Number(m[2]) / 8);
  }
  return out;
}

test('layout.ts sizes and offsets match the BTF of the compiled object', (t) => {
  const tool = bpftool();
  if (!existsSync(OBJ) || tool === null) {
    t.skip(`skipped: ${existsSync(OBJ) ? 'bpftool not installed' : `${OBJ} missing (npm run build:bpf)`}`);
    return;
  }
  const structs = btfStructs(execFileSync(tool, ['btf', 'dump', 'file', OBJ, 'format', 'raw'], { encoding: 'utf8' }));
  for (const [name, want] of Object.entries(L.LAYOUT)) {
    const got = structs.get(name);
    assert.ok(got, `struct ${name} is in the object's BTF`);
    assert.equal(got.size, want.size, `sizeof(struct ${name})`);
    const fields = want.fields as Record<string, number>;
    assert.deepEqual([...got.members.keys()].sort(), Object.keys(fields).sort(), `members of struct ${name}`);
    for (const [f, off] of Object.entries(fields)) assert.equal(got.members.get(f), off, `offsetof(struct ${name}, ${f})`);
  }
});

test('layout.ts constants match the header', () => {
  const defs = new Map<string, number>();
  for (const m of readFileSync(HEADER, 'utf8').matchAll(/^#define\s+(AG_\w+)\s+(0x[0-9a-fA-F]+|\d+)u?\b/gm)) defs.set(m[1]!, Number(m[2]));
  const d = (n: string): number => { const v = defs.get(n); assert.ok(v !== undefined, `${n} defined in armorgate.h`); return v; };
  assert.equal(L.AG_PATH_MAX, d('AG_PATH_MAX'));
  assert.equal(L.AG_UID_LEN, d('AG_UID_LEN'));
  assert.equal(L.AG_MAX_ENT, d('AG_MAX_ENT'));
  // the policy core's copy of the limits (policy/kernel-limits.ts, checked at validation and compile)
  assert.equal(KERNEL_LIMITS.rulesPerKey, d('AG_MAX_ENT'));
  assert.equal(KERNEL_LIMITS.pathBytes, d('AG_PATH_MAX') - 3, 'ag_match_path compares paths shorter than AG_PATH_MAX - 2');
  assert.ok(KERNEL_LIMITS.sourceBytes <= d('AG_PATH_MAX') - 2);
  assert.equal(L.AG_MAX_DEPTH, d('AG_MAX_DEPTH'));
  assert.equal(L.AG_SHAPE_DEPTHS, d('AG_SHAPE_DEPTHS'));
  for (const [k, v] of Object.entries(L.KIND)) assert.equal(v, d(`AG_KIND_${k.toUpperCase()}`), k);
  const tt: Record<string, string> = { path: 'AG_T_PATH', dir: 'AG_T_DIR', execname: 'AG_T_EXECNAME', proto: 'AG_T_PROTO', cap: 'AG_T_CAP', guard: 'AG_T_GUARD' };
  for (const [k, v] of Object.entries(L.TTYPE)) assert.equal(v, d(tt[k]!), k);
  for (const [k, v] of Object.entries(L.ACTION)) assert.equal(v, d(`AG_A_${k.toUpperCase()}`), k);
  const fl: Record<string, string> = { valid: 'AG_F_VALID', readOnly: 'AG_F_READONLY', ownerOnly: 'AG_F_OWNERONLY', recursive: 'AG_F_RECURSIVE' };
  for (const [k, v] of Object.entries(L.FLAG)) assert.equal(v, d(fl[k]!), k);
  for (const [k, v] of Object.entries(L.PROTO)) assert.equal(v, d(`AG_P_${k.toUpperCase()}`), k);
  assert.equal(Object.keys(L.PROTO).length, d('AG_P_COUNT'));
  L.HOOKS.forEach((h, i) => { if (h) assert.equal(i, d(`AG_H_${h === 'capable' ? 'CAPABLE' : h.toUpperCase()}`), h); });
  assert.equal(L.EV.decision, d('AG_EV_DECISION'));
  assert.equal(L.EV.dropped, d('AG_EV_DROPPED'));
  assert.equal(L.RULE_POSTURE, d('AG_RULE_POSTURE'));
  assert.equal(L.AG_EVERY, d('AG_EVERY'));
  assert.equal(L.AG_ALL_CONTAINERS, d('AG_ALL_CONTAINERS'));
  assert.equal(L.AG_MAX_CONTAINERS, d('AG_MAX_CONTAINERS'));
  assert.equal(L.CG_FLAG.pod, d('AG_CG_POD'));
  assert.equal(L.CG_FLAG.user, d('AG_CG_USER'));
  assert.equal(L.EXACT.procPath, d('AG_X_PROC_PATH'));
  assert.equal(L.EXACT.procName, d('AG_X_PROC_NAME'));
  assert.equal(L.EXACT.filePath, d('AG_X_FILE_PATH'));
  assert.equal(L.EXACT.guard, d('AG_X_GUARD'));
  // the pattern automaton (bpf/pattern.h)
  const pdefs = new Map<string, number>();
  for (const m of readFileSync(join(PROJECT_ROOT, 'bpf', 'pattern.h'), 'utf8').matchAll(/^#define\s+(AG_\w+)\s+(0x[0-9a-fA-F]+|\d+)u?\b/gm)) pdefs.set(m[1]!, Number(m[2]));
  assert.equal(L.EXACT.procPat, pdefs.get('AG_X_PROC_PAT'));
  assert.equal(L.EXACT.filePat, pdefs.get('AG_X_FILE_PAT'));
  assert.equal(L.AG_DFA.states, pdefs.get('AG_DFA_STATES'));
  assert.equal(L.AG_DFA.cells, pdefs.get('AG_DFA_CELLS'));
  assert.equal(L.AG_DFA.ents, pdefs.get('AG_DFA_ENTS'));
  assert.equal(L.AG_DFA.hits, pdefs.get('AG_DFA_HITS'));
  assert.equal(L.AG_DFA.lits, pdefs.get('AG_DFA_LITS'));
  assert.equal(L.AG_DFA.litLen, pdefs.get('AG_DFA_LIT_LEN'));
  assert.equal(L.AG_DFA.accGuardShift, pdefs.get('AG_DFA_ACC_GUARD_SHIFT'));
  assert.equal(L.AG_DFA.abi, pdefs.get('AG_DFA_ABI'));
  assert.equal(LIT_LEN, L.AG_DFA.litLen);
  assert.deepEqual([KERNEL_LIMITS.patternStates, KERNEL_LIMITS.patternCells, KERNEL_LIMITS.patternEntries, KERNEL_LIMITS.patternHits, KERNEL_LIMITS.patternLiterals], [L.AG_DFA.states, L.AG_DFA.cells, L.AG_DFA.ents, L.AG_DFA.hits, L.AG_DFA.lits]);
  assert.equal(Object.values(L.EXACT).reduce((a, b) => a | b, 0), 0x3f, 'the AG_X_* bits are distinct');
});

test('encoders round-trip and event decoding reads every field', () => {
  const key = { hash: 0x1234567890abcdefn, srcHash: 7n, podId: 3, gen: 9, kind: 1, ttype: 2 };
  assert.deepEqual(L.decodeRuleKey(L.encodeRuleKey(key)), key);
  const ents = [{ ruleId: 4, containers: 0xffffffff, action: 3, flags: L.FLAG.readOnly | L.FLAG.recursive }];
  assert.deepEqual(L.decodeRuleVal(L.encodeRuleVal('/etc/ssl/', ents)), { path: '/etc/ssl/', ents });
  assert.throws(() => L.encodeRuleVal('x'.repeat(L.AG_PATH_MAX), []), RangeError);
  const pod = { podId: 1, gen: 2, posture: [3, 2, 3, 2], hasSource: [0, 1, 0, 0], allowlist: [0, 0x80000000, 0, 0], hasBlock: [0xffffffff, 0, 0, 1], dirmask: [1n << 63n, 6n], capmask: 1n << 13n, protomask: 0x1010, exactmask: 5, unknownMask: 0xffffffff, usernsLevel: 1, seed: 0xfedcba9876543210n, hashmask: [[1n, 0n, 1n << 63n, 5n], [0n, 2n, 0n, 0xffffffffffffffffn]], shape: { len: Array.from({ length: 16 }, (_, i) => BigInt(i) << 60n), name: Array.from({ length: 16 }, (_, i) => 1n << BigInt(i * 4)) } } as L.PodValue;
  assert.deepEqual(L.decodePod(L.encodePod(pod)), pod);
  const f = L.LAYOUT.ag_event.fields;
  const b = Buffer.alloc(L.LAYOUT.ag_event.size);
  b.writeBigUInt64LE(5n, f.time_ns); b.writeBigUInt64LE(77n, f.cgroup_id); b.writeUInt32LE(1, f.type);
  b.writeUInt32LE(10, f.pid); b.writeUInt32LE(9, f.ppid); b.writeUInt32LE(1000, f.uid); b.writeUInt32LE(2, f.rule_id);
  b.writeUInt32LE(3, f.gen); b.writeInt32LE(-1, f.err); b.writeUInt8(2, f.hook); b.writeUInt8(1, f.kind);
  b.writeUInt8(3, f.action); b.writeUInt8(1, f.denied);
  b.write('0f0e0d0c-0000-4000-8000-000000000001', f.pod_uid); b.write('/bin/cat', f.exe); b.write('/bin/cat', f.source); b.write('/etc/shadow', f.target);
  const e = L.decodeEvent(b);
  assert.deepEqual(e, {
    timeNs: 5, cgroupId: 77n, type: 1, pid: 10, ppid: 9, uid: 1000, ruleId: 2, gen: 3, err: -1, dropped: 0, hook: 2, kind: 1,
    action: 3, denied: 1, podUid: '0f0e0d0c-0000-4000-8000-000000000001', exe: '/bin/cat', source: '/bin/cat', target: '/etc/shadow',
  });
  assert.equal(L.decodeEvent(b.subarray(0, 100)), null);
});

test('the event decoder that keeps what the records before repeat decodes each record as a fresh decoder does', () => {
  const f = L.LAYOUT.ag_event.fields;
  const rec = (o: { cg?: bigint; uid?: string; exe?: string; src?: string; target?: string; full?: 'exe' | 'uid' }): Buffer => {
    const b = Buffer.alloc(L.LAYOUT.ag_event.size);
    b.writeBigUInt64LE(o.cg ?? 77n, f.cgroup_id); b.writeUInt32LE(3, f.type);
    b.write(o.uid ?? '0f0e0d0c-0000-4000-8000-000000000001', f.pod_uid);
    b.write(o.exe ?? '/usr/bin/python3', f.exe); b.write(o.src ?? '/usr/bin/python3', f.source); b.write(o.target ?? '/etc/os-release', f.target);
    // a field filled to its end, no NUL in it
    if (o.full === 'exe') b.fill(0x61, f.exe, f.exe + L.AG_PATH_MAX);
    if (o.full === 'uid') b.fill(0x62, f.pod_uid, f.pod_uid + L.AG_UID_LEN);
    return b;
  };
  const records = [
    rec({}), rec({}), rec({ target: '/etc/hosts' }),
    rec({ exe: '/usr/bin/python' }), // a prefix of the one before
    rec({ exe: '/usr/bin/python3' }), rec({ exe: '/usr/bin/python4' }), // same length, one byte apart
    rec({ exe: '/usr/bin/python3.11' }), rec({ src: '/bin/sh' }), rec({ src: '' }), rec({ uid: '' }), rec({ uid: '0f0e0d0c-0000-4000-8000-000000000002' }),
    rec({ cg: (5n << 32n) | 77n }), rec({ cg: 77n }), rec({ cg: 0xffffffffffffffffn }),
    rec({ full: 'exe' }), rec({ full: 'exe' }), rec({}), rec({ full: 'uid' }), rec({ full: 'uid' }),
    // a shell and what it runs alternating, then a third program, then the first two again
    rec({ exe: '/bin/sh', src: '/bin/sh' }), rec({ exe: '/usr/bin/cat' }), rec({ exe: '/bin/sh', src: '/bin/sh' }), rec({ exe: '/usr/bin/cat' }),
    rec({ exe: '/bin/x' }), rec({ exe: '/bin/sh' }), rec({ exe: '/usr/bin/cat' }), rec({ exe: '/bin/sh' }),
    rec({ exe: 'é/ü' }), rec({ exe: 'é/ü' }),
  ];
  const d = L.eventDecoder();
  // one reused buffer, as the ring consumer's arena slots are: the memo holds copies, not views
  const slot = Buffer.alloc(L.LAYOUT.ag_event.size);
  for (const [i, r] of records.entries()) {
    r.copy(slot);
    assert.deepEqual(d(slot), L.decodeEvent(r), `record ${i}`);
  }
  assert.equal(d(slot)!.exe, 'é/ü');
  assert.equal(L.decodeEvent(records[14]!)!.exe, 'a'.repeat(L.AG_PATH_MAX), 'a full field is its whole width');
  assert.equal(d(Buffer.alloc(8)), null);
  // the time past 32 bits, as a number: three days of uptime in ns, exact
  records[0]!.writeBigUInt64LE(259_200_000_000_123n, f.time_ns);
  assert.equal(d(records[0]!)!.timeNs, 259_200_000_000_123);
  assert.equal(L.decodeEvent(records[0]!)!.timeNs, 259_200_000_000_123);
});

test('node summary: the union of pods, encoded in agconfig, unused until written', () => {
  const pod = (protomask: number, capmask: bigint, allowNet: number, allowCaps: number): L.PodValue => L.decodePod(L.encodePod({
    podId: 1, gen: 1, posture: [2, 2, 2, 2], hasSource: [0, 0, 0, 0], allowlist: [0, 0, allowNet, allowCaps], hasBlock: [0, 0, 0, 0],
    dirmask: [0n, 0n], capmask, protomask, exactmask: 0, unknownMask: 0, usernsLevel: 0, seed: 0n, hashmask: [[0n, 0n, 0n, 0n], [0n, 0n, 0n, 0n]], shape: L.emptyShape(),
  }));
  const u = L.unionSummaries([L.summaryOf(pod(1 << 4, 0n, 0, 0)), L.summaryOf(pod(1, 1n << 13n, 0, 0x80000000))]);
  assert.deepEqual(u, { netProtos: 0x11, caps: 1n << 13n, netAllowlist: false, capsAllowlist: true });
  assert.deepEqual(L.unionSummaries([]), { netProtos: 0, caps: 0n, netAllowlist: false, capsAllowlist: false });
  const c = L.decodeConfig(L.encodeConfig(200, 1, u));
  assert.deepEqual(c, { ratePerSec: 200, forkLayout: 1, summary: u, kubepods: { ids: [], gen: 0 }, podsEpoch: 0 });
  const kp = { ids: [12345n, 678n], gen: 3 };
  assert.deepEqual(L.decodeConfig(L.encodeConfig(200, 1, u, true, kp)).kubepods, kp, 'the kubepods roots and their generation');
  assert.equal(L.decodeConfig(L.encodeConfig(200, 1, u, true, kp, 0xfffffffe)).podsEpoch, 0xfffffffe, 'the pods epoch (ag_who\'s memo)');
  assert.equal(L.decodeConfig(L.encodeConfig(200, 0)).summary, null, 'no summary: summary_valid 0, the programs look every socket() up');
});

test('pathHash: 64-bit words, the last zero-filled, h = (h ^ w) * FNV prime, h ^= h >> 32 (a BigInt reference)', () => {
  const M = 0xffffffffffffffffn;
  const ref = (s: string, seed: bigint): bigint => {
    const b = Buffer.from(s);
    let h = seed & M;
    for (let i = 0; i < b.length; i += 8) {
      const w = Buffer.alloc(8);
      b.copy(w, 0, i, Math.min(i + 8, b.length));
      h = ((h ^ w.readBigUInt64LE(0)) * 0x100000001b3n) & M;
      h ^= h >> 32n;
    }
    return h;
  };
  assert.equal(L.pathHash(''), L.FNV_OFFSET, 'no bytes: the seed');
  for (const seed of [0n, 1n, 0xffffffffffffffffn, 0x0123456789abcdefn, L.FNV_OFFSET]) {
    for (const s of ['', 'a', '/etc/shadow', '/etc/ssl/', '12345678', '123456789', '/\u00e9t\u00e9/\u4e2d'.repeat(40), '\u00ff'.repeat(9)]) {
      assert.equal(L.pathHash(s, seed), ref(s, seed), `${s} from ${seed}`);
    }
  }
  // the bytes, not their count, make the words: a string and its UTF-8 bytes agree
  assert.equal(L.pathHash('/\u00e9t\u00e9', 7n), L.pathHash(Buffer.from('/\u00e9t\u00e9'), 7n));
  assert.notEqual(L.pathHash('/etc/ssl', 7n), L.pathHash('/etc/ssl/', 7n));
});
