// The kernel's pattern walk (bpf/pattern-match.h) run in this host's kernel through
// BPF_PROG_TEST_RUN (a raw tracepoint program around it: test/kernel/bpf/pattern-walk.bpf.c),
// on the tables enforcer/kernel/patterns.ts encodes, against policy/decide.ts. Skips, saying why,
// without root, clang or build/vmlinux.h (npm run build:bpf).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import koffi from 'koffi';
import { planProfile } from '../../enforcer/kernel/entries.ts';
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

test('the kernel walk of the encoded automaton decides as decide() does, and finds the rename guard guardOf() gives', (t) => {
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
    const sets: [Action, string, boolean][][] = [
      [['Block', '/srv/p/*.key', false], ['Allow', '/srv/**', false], ['Audit', '/etc/*hado?', false], ['Block', '/srv/p/[0-9].num', true],
        ['Block', '/srv/d/**/deep.txt', false], ['Allow', '/srv/p/{a,b}.key', true], ['Audit', '/e/\\*', false], ['Block', '/q/?/x', false]],
      Array.from({ length: 500 }, (_, i): [Action, string, boolean] => ['Block', `/srv/pat/f${i}/*`, false]),
      // literal runs (policy/pattern-dfa.ts literalRuns): long literal parts, paths that leave them
      // inside a run, end inside one, or cross a chunk's edge in one
      [...Array.from({ length: 50 }, (_, i): [Action, string, boolean] => ['Block', `${DATA}.${i}`, false]), ['Audit', `${LIT}/*.txt`, false],
        ['Block', `${LIT}x`, false]],
    ];
    const paths = ['/srv/p/a.key', '/srv/p/c.key', '/srv/p/a.txt', '/srv/p/sub/a.key', '/etc/shadow', '/etc/gshadow', '/etc/hostname', '/srv/p/5.num',
      '/srv/d/deep.txt', '/srv/d/a/b/c/deep.txt', LONG, LONG + 'x', '/e/*', '/e/a', '/q/é/x', '/q/ab/x', '/srv/pat/f0/x', '/srv/pat/f499/x',
      '/srv/pat/f500/x', '/srv/pat/f49/x/y', '/x', '/', DATA, `${DATA}.7`, `${DATA}.49`, `${DATA}.50`, `${DATA}.7x`, '/srv/bench/app/lib/dat_.bin.1',
      '/srv/bench/ap', '/srv/bench/app/lib/data.bi', `${LIT}/a.txt`, `${LIT}x`, `${LIT}/b/a.txt`, `${LIT.slice(0, 255)}Z${LIT.slice(256)}/a.txt`, LIT,
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
          const input = Buffer.alloc(16 + 4096);
          input.writeUInt32LE(process.pid, 0);
          input.writeUInt32LE(1, 4); // AG_KIND_FILE
          input.writeUInt32LE(write, 8);
          input.write(path, 16);
          assert.equal(l.bpf_map_update_elem(fd('vt_in_map'), Buffer.alloc(4), input, 0n), 0);
          assert.equal(testRun(progFd, opts), 0);
          const out = Buffer.alloc(24);
          assert.equal(l.bpf_map_lookup_elem(fd('vt_out_map'), Buffer.alloc(4), out), 0);
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
    assert.equal(testRun(progFd, opts), 0);
    const out = Buffer.alloc(24);
    l.bpf_map_lookup_elem(fd('vt_out_map'), Buffer.alloc(4), out);
    assert.equal(out.readInt32LE(12), -1);
    assert.equal(out.readBigInt64LE(16), -1n, 'ag_pat_end: -1 without the automaton');
  } finally {
    l.bpf_object__close(r.value.obj);
  }
});
