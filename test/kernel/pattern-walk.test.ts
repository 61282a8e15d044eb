// The kernel's pattern walk (bpf/pattern-match.h) run in this host's kernel through
// BPF_PROG_TEST_RUN (a raw tracepoint program around it: test/kernel/bpf/pattern-walk.bpf.c),
// on the tables enforcer/kernel/patterns.ts encodes, against policy/decide.ts. Skips, saying why,
// without root, clang or build/vmlinux.h (npm run build:bpf).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import fc from 'fast-check';
import koffi from 'koffi';
import { planProfile, profileEntries } from '../../enforcer/kernel/entries.ts';
import { encodeUid } from '../../enforcer/kernel/layout.ts';
import { libbpf } from '../../enforcer/kernel/libbpf.ts';
import { PROJECT_ROOT, loadObject } from '../../enforcer/kernel/loader.ts';
import { encodeDfa, encodePatKey, guardOf, type PatternEnt } from '../../enforcer/kernel/patterns.ts';
import { endState, type PatternTable } from '../../policy/pattern-dfa.ts';
import { decide } from '../../policy/decide.ts';
import type { Action, Profile, ProfileRule, Target } from '../../policy/types.ts';

const SRC = join(PROJECT_ROOT, 'test', 'kernel', 'bpf', 'pattern-walk.bpf.c');
const OBJ = join(PROJECT_ROOT, 'build', 'pattern-walk.bpf.o');

function build(): string | null {
  if (process.getuid?.() !== 0) return 'loading BPF programs needs root';
  if (!existsSync(join(PROJECT_ROOT, 'build', 'vmlinux.h'))) return 'build/vmlinux.h missing (npm run build:bpf)';
  try {
    execFileSync('clang', ['-g', '-O2', '-target', 'bpf', '-D__TARGET_ARCH_x86', '-mcpu=v3', `-I${join(PROJECT_ROOT, 'build')}`, `-I${join(PROJECT_ROOT, 'bpf')}`,
      '-Wall', '-Wno-unused-function', '-c', SRC, '-o', OBJ], { stdio: 'pipe' });
  } catch (e) {
    return `clang could not build ${SRC}: ${(e as Error).message.split('\n')[0]}`;
  }
  return null;
}

const rule = (action: Action, target: Target, more: Partial<ProfileRule> = {}): ProfileRule =>
  ({ action, target, readOnly: false, ownerOnly: false, fromSource: '', containers: [], policies: ['ns/p'], severity: 1, tags: [], message: '', ...more });

const LONG = `/srv/d/${'x'.repeat(200)}/${'y'.repeat(200)}/${'z'.repeat(200)}/deep.txt`;
// a literal longer than a chunk (256 bytes): its runs end at the chunk's edge and go on in the next
const LIT = `/srv/l/${'abcdefgh'.repeat(40)}`;
const DATA = '/srv/bench/app/lib/data.bin';
// struct vt_in: tgid, kind, write, owner, mode, pad, uid (40 bytes), path; struct vt_out: 32 bytes
const IN_MODE = 16;
const IN_UID = 24;
const IN_PATH = 64;
const OUT_SIZE = 32;

interface Walk {
  /** runs the program on a struct vt_in; the struct vt_out it wrote */
  run(input: Buffer): Buffer;
  fd(map: string): number;
  l: Extract<ReturnType<typeof libbpf>, { ok: true }>['value'];
}

/** The test object loaded, or why this kernel cannot run it (a skip); fn runs with it, then it
 *  is closed. A verifier refusal fails the test. */
function withWalk(t: TestContext, fn: (w: Walk) => void): void {
  const why = build();
  if (why !== null) { t.skip(`skipped: ${why}`); return; }
  const r = loadObject(OBJ, ['vt'], null);
  // a kernel that lets no one load BPF programs (EPERM, EACCES) is a skip; the verifier refusing
  // the walk (E2BIG, EINVAL, EACCES with a log) is this test failing
  if (!r.ok && /errno (1|13)\)/.test(r.error.message) && !r.error.message.includes('processed')) { t.skip(`skipped: this kernel refuses the test program: ${r.error.message.split('\n')[0]}`); return; }
  assert.ok(r.ok, `the verifier refused the walk: ${r.ok ? '' : r.error.message.slice(0, 2000)}`);
  const lr = libbpf();
  assert.ok(lr.ok);
  const l = lr.value;
  try {
    const so = koffi.load('libbpf.so.1');
    const testRun = so.func('bpf_prog_test_run_opts', 'int', ['int', 'void *']);
    const progFd = l.bpf_program__fd(r.value.programs.get('vt')!);
    const fd = (n: string): number => r.value.maps.get(n)!.fd;
    // struct bpf_test_run_opts (80 bytes): sz at 0, ctx_in at 32, ctx_size_in at 48
    const ctx = Buffer.alloc(16);
    const opts = Buffer.alloc(80);
    opts.writeBigUInt64LE(80n, 0);
    opts.writeBigUInt64LE(BigInt(koffi.address(ctx)), 32);
    opts.writeUInt32LE(16, 48);
    fn({
      l, fd,
      run: (input) => {
        if (input.length > 0) assert.equal(l.bpf_map_update_elem(fd('vt_in_map'), Buffer.alloc(4), input, 0n), 0);
        assert.equal(testRun(progFd, opts), 0);
        const out = Buffer.alloc(OUT_SIZE);
        assert.equal(l.bpf_map_lookup_elem(fd('vt_out_map'), Buffer.alloc(4), out), 0);
        return out;
      },
    });
  } finally {
    l.bpf_object__close(r.value.obj);
  }
}

test('the kernel walk of the encoded automaton decides as decide() does, and finds the rename guard guardOf() gives', (t) => withWalk(t, ({ l, fd, run }) => {
    const sets: [Action, string, boolean][][] = [
      [['Block', '/srv/p/*.key', false], ['Allow', '/srv/**', false], ['Audit', '/etc/*hado?', false], ['Block', '/srv/p/[0-9].num', true],
        ['Block', '/srv/d/**/deep.txt', false], ['Allow', '/srv/p/{a,b}.key', true], ['Audit', '/e/\\*', false], ['Block', '/q/?/x', false]],
      Array.from({ length: 500 }, (_, i): [Action, string, boolean] => ['Block', `/srv/pat/f${i}/*`, false]),
      // literal runs (policy/pattern-dfa.ts literalRuns): long literal parts, paths that leave them
      // inside a run, end inside one, or cross a chunk's edge in one
      [...Array.from({ length: 50 }, (_, i): [Action, string, boolean] => ['Block', `${DATA}.${i}`, false]), ['Audit', `${LIT}/*.txt`, false],
        ['Block', `${LIT}x`, false]],
      // a pattern that matches inside another's literal run: a path may end there (its NUL inside
      // the run's 8 bytes), or leave the run before its end (dead at once)
      [['Block', '/srv/lit/abc', false], ['Audit', '/srv/lit/abcdefghijklmnop', false]],
    ];
    const paths = ['/srv/p/a.key', '/srv/p/c.key', '/srv/p/a.txt', '/srv/p/sub/a.key', '/etc/shadow', '/etc/gshadow', '/etc/hostname', '/srv/p/5.num',
      '/srv/d/deep.txt', '/srv/d/a/b/c/deep.txt', LONG, LONG + 'x', '/e/*', '/e/a', '/q/é/x', '/q/ab/x', '/srv/pat/f0/x', '/srv/pat/f499/x',
      '/srv/pat/f500/x', '/srv/pat/f49/x/y', '/x', '/', DATA, `${DATA}.7`, `${DATA}.49`, `${DATA}.50`, `${DATA}.7x`, '/srv/bench/app/lib/dat_.bin.1',
      '/srv/bench/ap', '/srv/bench/app/lib/data.bi', '/srv/lit/abc', '/srv/lit/ab', '/srv/lit/abd', '/srv/lit/abcdefghijklmnop', '/srv/lit/abcdefghXjklmnop',
      '/srv/lit/abcdefghijklmno', '/srv/lit/abcX', `${LIT}/a.txt`, `${LIT}x`, `${LIT}/b/a.txt`, `${LIT.slice(0, 255)}Z${LIT.slice(256)}/a.txt`, LIT,
      // directories as a rename hands them to ag_pat_end (path + "/")
      '/srv/', '/srv/p/', '/srv/p/sub/', '/srv/d/', '/srv/d/a/b/', '/etc/', '/q/', '/q/a/', '/q/a/b/', '/tmp/', '/srv/pat/', '/srv/pat/f7/', '/e/', `${LIT}/`];
    let hits = 0;
    let guards = 0;
    let runs = 0;
    for (const set of sets) {
      const profile: Profile = { version: 1, posture: { file: 'block', process: 'block', network: 'audit', capabilities: 'audit' }, process: [],
        file: set.map(([a, p, ro]) => rule(a, { type: 'pattern', pattern: p }, { readOnly: ro })), network: [], capabilities: [] };
      const plan = planProfile(profile, { podId: 1, gen: 1, containers: [] });
      assert.ok(plan.ok && plan.value.unsupported.length === 0);
      runs = Math.max(runs, plan.value.patterns[0]!.table.dfa.lits.count - 1);
      const key = encodePatKey(1, 1, 'file');
      assert.equal(l.bpf_map_update_elem(fd('patterns'), key, encodeDfa(plan.value.patterns[0]!.table), 0n), 0);
      for (const path of paths) {
        for (const write of [0, 1]) {
          const input = Buffer.alloc(IN_PATH + 4096);
          input.writeUInt32LE(process.pid, 0);
          input.writeUInt32LE(1, 4); // AG_KIND_FILE
          input.writeUInt32LE(write, 8);
          input.write(path, IN_PATH);
          const out = run(input);
          // ag_pat_end: the state the path ends in and its guard (the rename check's input)
          const table: PatternTable<PatternEnt> = plan.value.patterns[0]!.table;
          const st = endState(table.dfa, path);
          const g: PatternEnt | null = guardOf(table)[st] ?? null;
          const end = out.readBigInt64LE(16);
          assert.equal(Number(end & 0xffffn), st, `${path.slice(0, 60)}: the state`);
          assert.equal(Number((end >> 16n) & 3n), g === null ? 0 : g.action, `${path.slice(0, 60)}: the guard's action`);
          if (g !== null) { guards++; assert.equal(Number(end >> 32n), g.ruleId, `${path.slice(0, 60)}: the guard's rule`); }
          const d = decide(profile, { kind: 'file', path, source: '', write: write === 1, owner: false });
          const want = d.rule === null ? 0 : { Allow: 1, Audit: 2, Block: 3 }[d.rule.action];
          assert.equal(out.readInt32LE(12), 0, 'the automaton is found');
          assert.equal(out.readUInt32LE(8), want, `${path.slice(0, 60)} write=${write}`);
          if (want !== 0) { hits++; assert.equal(out.readUInt32LE(4), plan.value.rules.indexOf(d.rule!), 'the rule decide() names'); }
        }
      }
      assert.equal(l.bpf_map_delete_elem(fd('patterns'), key), 0);
    }
    assert.ok(hits >= 20, `${hits} accesses matched a pattern rule`);
    assert.ok(guards >= 20, `${guards} paths ended in a guarded state`);
    assert.ok(runs >= 30, `the literal set's automaton has literal runs (${runs})`);
    // no automaton for the generation: -1, the caller fails closed
    const out = run(Buffer.alloc(0));
    assert.equal(out.readInt32LE(12), -1);
    assert.equal(out.readBigInt64LE(16), -1n, 'ag_pat_end: -1 without the automaton');
}));

// ---- the whole path decision: exact paths, directories and patterns together
const SEGS = ['a', 'b', 'etc', 'ssl', 'key.pem'];
const segArb = fc.constantFrom(...SEGS);
const globArb = fc.array(fc.constantFrom('a', 'b', 'etc', 'ssl', '*', '**', '?', '*.pem', '{a,b}', '[ab]'), { minLength: 1, maxLength: 3 }).map((p) => '/' + p.join('/'));
const fileRuleArb: fc.Arbitrary<ProfileRule> = fc.record({
  action: fc.constantFrom<Action>('Allow', 'Audit', 'Block'),
  target: fc.oneof(
    fc.array(segArb, { minLength: 1, maxLength: 3 }).map((s): Target => ({ type: 'path', path: '/' + s.join('/') })),
    fc.tuple(fc.array(segArb, { minLength: 0, maxLength: 2 }), fc.boolean()).map(([s, recursive]): Target => ({ type: 'directory', dir: '/' + s.map((x) => x + '/').join(''), recursive })),
    globArb.map((pattern): Target => ({ type: 'pattern', pattern }))),
  readOnly: fc.boolean(), ownerOnly: fc.boolean(),
}).map((r) => rule(r.action, r.target, { readOnly: r.readOnly, ownerOnly: r.ownerOnly }));

interface Access { path: string; write: boolean; owner: boolean }

/** One random profile's rules of `kind` (deduplicated) put in the maps as pod `uid`, each access
 *  decided by the kernel (ag_decide_path) and by decide(): they must agree on the verdict and the
 *  rule. Returns the target type of each access's deciding rule (null: the posture or none). */
function decideAgrees({ l, fd, run }: Walk, kind: 'process' | 'file', uid: string, rules0: readonly ProfileRule[], posture: string, accesses: readonly Access[]): (Target['type'] | null)[] {
  const rules = [...new Map(rules0.map((r) => [JSON.stringify([r.action, r.target, r.readOnly, r.ownerOnly]), r])).values()];
  const post = { file: 'audit', process: 'audit', network: 'audit', capabilities: 'audit', [kind]: posture } as Profile['posture'];
  const profile: Profile = { version: 1, posture: post, process: kind === 'process' ? rules : [], file: kind === 'file' ? rules : [], network: [], capabilities: [] };
  const e = profileEntries(profile, { podId: kind === 'file' ? 7 : 8, gen: 1, containers: [] });
  assert.ok(e.ok, e.ok ? '' : e.error.message);
  if (e.value.plan.unsupported.length > 0) return []; // what the kernel cannot hold is reported, not compared
  const put = (map: string, items: readonly { key: Buffer; value: Buffer }[]): void => { for (const x of items) assert.equal(l.bpf_map_update_elem(fd(map), x.key, x.value, 0n), 0, map); };
  put('rules', e.value.rules);
  put('patterns', e.value.patterns);
  assert.equal(l.bpf_map_update_elem(fd('pods'), encodeUid(uid), e.value.pod, 0n), 0);
  const by: (Target['type'] | null)[] = [];
  try {
    for (const a of accesses) {
      const input = Buffer.alloc(IN_PATH + 4096);
      input.writeUInt32LE(process.pid, 0);
      input.writeUInt32LE(kind === 'file' ? 1 : 0, 4); // AG_KIND_FILE, AG_KIND_PROCESS
      input.writeUInt32LE(a.write ? 1 : 0, 8);
      input.writeUInt32LE(a.owner ? 1 : 0, 12);
      input.writeUInt32LE(1, IN_MODE);
      encodeUid(uid).copy(input, IN_UID);
      input.write(a.path, IN_PATH);
      const out = run(input);
      const ret = out.readInt32LE(12);
      const score = out.readUInt32LE(0);
      // allowed with no rule under an allow-list: the posture's report, so 'audit' (a block posture must have denied)
      const got = ret !== 0 ? 'block' : score !== 0 ? (out.readUInt32LE(8) === 2 ? 'audit' : 'allow') : out.readUInt32LE(24) !== 0 ? 'audit' : 'allow';
      const d = decide(profile, { kind, path: a.path, source: '', write: a.write, owner: a.owner });
      assert.equal(got, d.verdict, `${a.path} write=${a.write} owner=${a.owner} under ${JSON.stringify(rules.map((r) => [r.action, r.target, r.readOnly, r.ownerOnly]))} (${posture})`);
      if (d.rule !== null) assert.equal(out.readUInt32LE(4), e.value.plan.rules.indexOf(d.rule), 'the rule decide() names');
      by.push(d.rule?.target.type ?? null);
    }
  } finally {
    for (const x of e.value.rules) l.bpf_map_delete_elem(fd('rules'), x.key);
    for (const x of e.value.patterns) l.bpf_map_delete_elem(fd('patterns'), x.key);
    l.bpf_map_delete_elem(fd('pods'), encodeUid(uid));
  }
  return by;
}

test('the kernel\'s whole path decision (exact paths, directories, patterns, their precedence and qualifiers) agrees with decide() on random profiles', (t) => withWalk(t, (w) => {
  const by: (Target['type'] | null)[] = [];
  fc.assert(fc.property(fc.array(fileRuleArb, { minLength: 1, maxLength: 6 }), fc.constantFrom('audit', 'block'),
    fc.array(fc.record({ path: fc.array(segArb, { minLength: 1, maxLength: 4 }).map((s) => '/' + s.join('/')), write: fc.boolean(), owner: fc.boolean() }), { minLength: 1, maxLength: 8 }),
    (rules, posture, accesses) => { by.push(...decideAgrees(w, 'file', '11111111-2222-4333-8444-555555555555', rules, posture, accesses)); }), { numRuns: 150 });
  const byPattern = by.filter((x) => x === 'pattern').length;
  assert.ok(by.length >= 300 && byPattern >= 10, `${by.length} accesses, ${byPattern} decided by a pattern rule`);
}));

// ---- the same for process rules: exact paths, base names (execname), directories and patterns,
// on paths of every length modulo the hash's 8-byte words, and past AG_TARGET_MAX (the base name
// then found from the end)
const PSEGS = ['usr', 'bin', 'sh', 'busybox', 'python3.11', 'x'.repeat(15)];
const psegArb = fc.constantFrom(...PSEGS);
const LONG_DIR = `/opt/${'d'.repeat(250)}/${'e'.repeat(250)}`;
const processRuleArb: fc.Arbitrary<ProfileRule> = fc.record({
  action: fc.constantFrom<Action>('Allow', 'Audit', 'Block'),
  target: fc.oneof(
    fc.array(psegArb, { minLength: 1, maxLength: 3 }).map((s): Target => ({ type: 'path', path: '/' + s.join('/') })),
    psegArb.map((name): Target => ({ type: 'execname', name })),
    fc.tuple(fc.array(psegArb, { minLength: 0, maxLength: 2 }), fc.boolean()).map(([s, recursive]): Target => ({ type: 'directory', dir: '/' + s.map((x) => x + '/').join(''), recursive })),
    fc.array(fc.constantFrom('usr', 'bin', '*', '**', 'b?sybox', 'python3.*'), { minLength: 1, maxLength: 3 }).map((p): Target => ({ type: 'pattern', pattern: '/' + p.join('/') }))),
  ownerOnly: fc.boolean(),
}).map((r) => rule(r.action, r.target, { ownerOnly: r.ownerOnly }));

test('the kernel\'s whole path decision for process rules (paths, base names, directories, patterns) agrees with decide() on random profiles', (t) => withWalk(t, (w) => {
  const by: (Target['type'] | null)[] = [];
  fc.assert(fc.property(fc.array(processRuleArb, { minLength: 1, maxLength: 6 }), fc.constantFrom('audit', 'block'),
    fc.array(fc.record({ path: fc.oneof(fc.array(psegArb, { minLength: 1, maxLength: 4 }).map((s) => '/' + s.join('/')), psegArb.map((s) => `${LONG_DIR}/${s}`)), write: fc.constant(false), owner: fc.boolean() }), { minLength: 1, maxLength: 8 }),
    (rules, posture, accesses) => { by.push(...decideAgrees(w, 'process', '11111111-2222-4333-8444-666666666666', rules, posture, accesses)); }), { numRuns: 150 });
  const byName = by.filter((x) => x === 'execname').length;
  assert.ok(by.length >= 300 && byName >= 10, `${by.length} accesses, ${byName} decided by a base-name rule`);
}));
