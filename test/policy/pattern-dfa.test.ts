// The pattern automaton (policy/pattern-dfa.ts) against the glob matcher the policy core uses
// (policy/glob.ts through decide.ts): the same paths match, pattern by pattern, for many
// patterns compiled together; its bounds are refused with a message naming the pattern.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { globMatches } from '../../policy/decide.ts';
import { LIT_LEN, compilePatterns, literalDir, literalRuns, patternTable, runDfa, stepPacked, type Dfa } from '../../policy/pattern-dfa.ts';
import { KERNEL_LIMITS, type SlotEntry } from '../../policy/kernel-limits.ts';
import { validatePolicy } from '../../policy/validate.ts';

const PATTERNS = [
  '/etc/*.conf', '/etc/pass*', '/*', '/a/**/b', '/a/**', '/x/?y', '/c/[a-c]x', '/d/[!a]x', '/d/[^a-c]x', '/e/{foo,bar*}/z',
  '/e/{a,{b,c}d}', '/f/\\*', '/g/**', '/h/*/*.log', '/i/**/*.sh', '/j/**.txt', '/k/[*?]', '/l,m', '/é/?',
];
const PATHS = [
  '/etc/a.conf', '/etc/x/a.conf', '/etc/passwd', '/etc/pass', '/a/b', '/a//b', '/a/x/y/b', '/x/zy', '/x/éy', '/x//y', '/c/bx', '/c/dx',
  '/d/ax', '/d/bx', '/d/dx', '/d/éx', '/e/foo/z', '/e/barx/z', '/e/baz/z', '/e/a', '/e/bd', '/e/cd', '/e/d', '/f/*', '/f/a', '/g/', '/g/x/y',
  '/g', '/h/x/a.log', '/h/a.log', '/h/x/y/a.log', '/i/a.sh', '/i/x/y/z/a.sh', '/j/a/b.txt', '/k/*', '/k/?', '/k/a', '/l,m', '/é/a', '/é/éé',
];

test('the automaton of many patterns matches each path exactly as each glob does', () => {
  const r = compilePatterns(PATTERNS);
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  for (const path of PATHS) {
    const want = PATTERNS.map((p, i) => (globMatches(p, path) ? i : -1)).filter((i) => i >= 0);
    assert.deepEqual(runDfa(r.value, path), want, path);
  }
});

test('random globs and paths: the automaton agrees with the glob matcher', () => {
  const atom = fc.constantFrom('a', 'b', '/', '*', '**', '?', '[ab]', '[!a]', '{a,b/}', '{,c}', '.', '\\*', 'é');
  const pathChar = fc.constantFrom('a', 'b', 'c', '/', '.', '*', 'é');
  fc.assert(fc.property(fc.array(fc.array(atom, { maxLength: 6 }).map((a) => '/' + a.join('')), { minLength: 1, maxLength: 5 }),
    fc.array(fc.array(pathChar, { maxLength: 10 }).map((a) => '/' + a.join('')), { maxLength: 20 }), (pats, paths) => {
      const r = compilePatterns(pats);
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      for (const path of paths) {
        const want = pats.map((p, i) => (globMatches(p, path) ? i : -1)).filter((i) => i >= 0);
        assert.deepEqual(runDfa(r.value, path), want, `${JSON.stringify(pats)} on ${path}`);
      }
    }), { numRuns: 300 });
});

test('literal runs: the 8 bytes a state stays alive on alone, and the state after them; none where a glob or a fork is', () => {
  const r = compilePatterns(['/srv/bench/app/*.bin', '/srv/bench/lib/x']);
  assert.ok(r.ok);
  const d = r.value;
  const lit = (st: number): string | null => {
    const i = d.lits.idx[st]!;
    return i === 0 ? null : Buffer.from(d.lits.bytes.subarray(i * LIT_LEN, (i + 1) * LIT_LEN)).toString('latin1');
  };
  assert.equal(lit(d.start), '/srv/ben');
  // walk "/srv/ben" by bytes: the state the run names
  let st = d.start;
  for (const b of Buffer.from('/srv/ben')) st = stepPacked(d, st, b);
  assert.equal(d.lits.next[d.lits.idx[d.start]!], st);
  assert.equal(lit(st), null, '"ch/" then a fork (app, lib): no 8-byte run from there');
  for (const b of Buffer.from('ch/app/')) st = stepPacked(d, st, b);
  assert.equal(lit(st), null, 'inside `*`: every byte but "/" keeps it alive');
  // the bound: entry 0 unused, so at most max - 1 runs, nearest the start first
  const few = literalRuns(d.next, d.nstates, d.ncls, d.classOf, d.start, 2);
  assert.equal(few.count, 2);
  assert.equal(few.idx[d.start], 1);
});

test('literal-heavy random globs and paths: with literal runs the walk agrees with the glob matcher and with the walk without them', () => {
  const word = fc.constantFrom('/srv/bench', '/app/lib/', 'data.bin', 'abcdefghij', 'abcdefgX', '/', '.', '*', '**', '?', '{abcdefgh,abcdefgi}', '[ab]');
  const pathWord = fc.constantFrom('/srv/bench', '/app/lib/', 'data.bin', 'abcdefghij', 'abcdefgX', 'abcdefgi', '/', '.', 'x', 'srv', 'ben');
  const none = (d: Dfa): Dfa => ({ ...d, lits: { ...d.lits, idx: new Uint16Array(d.nstates) } });
  let withRuns = 0;
  fc.assert(fc.property(fc.array(fc.array(word, { minLength: 1, maxLength: 5 }).map((a) => a.join('')), { minLength: 1, maxLength: 6 }),
    fc.array(fc.array(pathWord, { maxLength: 6 }).map((a) => a.join('')), { maxLength: 20 }), (pats, paths) => {
      const r = compilePatterns(pats.map((p) => (p.startsWith('/') ? p : `/${p}`)));
      if (!r.ok) return; // a glob this grammar refuses ('**' glued to a word): not what is tested
      if (r.value.lits.count > 1) withRuns++;
      const ps = pats.map((p) => (p.startsWith('/') ? p : `/${p}`));
      for (const path of [...paths, ...ps.map((p) => p.replace(/[*?[{]/g, 'x'))]) {
        const want = ps.map((p, i) => (globMatches(p, path) ? i : -1)).filter((i) => i >= 0);
        assert.deepEqual(runDfa(r.value, path), want, `${JSON.stringify(ps)} on ${path}`);
        assert.deepEqual(runDfa(none(r.value), path), want);
      }
    }), { numRuns: 300 });
  assert.ok(withRuns > 100, `${withRuns} of 300 automatons had literal runs`);
});

test('500 patterns of one shape fit, and their automaton grows with the patterns, not its walk', () => {
  const pats = Array.from({ length: 500 }, (_, i) => `/srv/pat/f${i}/*`);
  const r = compilePatterns(pats);
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  assert.ok(r.value.nstates <= KERNEL_LIMITS.patternStates && r.value.cells.length <= KERNEL_LIMITS.patternCells);
  assert.deepEqual(runDfa(r.value, '/srv/pat/f123/x.txt'), [123]);
  assert.deepEqual(runDfa(r.value, '/srv/pat/f123/x/y'), []);
});

test('the packed table takes every transition the dense one does, state by state and byte by byte', () => {
  const shapes = [(i: number) => `/srv/data${i}/*.pem`, (i: number) => `/etc/app${i}/**/secret?.txt`, (i: number) => `/var/lib/store${i}/[a-c]*.db`,
    (i: number) => `/opt/keys${i}/{id_rsa,id_ed25519}`, (i: number) => `/home/*/.config/tool${i}/*.token`];
  const sets = [PATTERNS, Array.from({ length: 500 }, (_, i) => `/srv/pat/f${i}/*`), Array.from({ length: 200 }, (_, i) => shapes[i % 5]!(i))];
  for (const pats of sets) {
    const r = compilePatterns(pats);
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    const d = r.value;
    for (let st = 1; st < d.nstates; st++) {
      for (let b = 1; b < 256; b++) assert.equal(stepPacked(d, st, b), d.next[st * d.ncls + d.classOf[b]!], `state ${st} byte ${b}`);
    }
    // the comb is about the transitions besides each state's default, not states x classes
    assert.ok(d.cells.length < 3 * d.nstates, `${pats.length} patterns: ${d.cells.length} cells for ${d.nstates} states`);
  }
});

test('200 patterns of the shapes policies use (the workload benchmark\'s) fit the kernel\'s bounds', () => {
  const shapes = [(i: number) => `/srv/data${i}/*.pem`, (i: number) => `/etc/app${i}/**/secret?.txt`, (i: number) => `/var/lib/store${i}/[a-c]*.db`,
    (i: number) => `/opt/keys${i}/{id_rsa,id_ed25519}`, (i: number) => `/home/*/.config/tool${i}/*.token`];
  const r = compilePatterns(Array.from({ length: 200 }, (_, i) => shapes[i % 5]!(i)));
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  assert.deepEqual(runDfa(r.value, '/etc/app6/x/y/secret1.txt'), [6]);
  assert.deepEqual(runDfa(r.value, '/opt/keys3/id_ed25519'), [3]);
  assert.deepEqual(runDfa(r.value, '/opt/keys3/id_dsa'), []);
});

test('past the bounds: E_KERNEL_LIMIT naming the pattern; non-ASCII sets are refused', () => {
  const r = compilePatterns(['/a/*', '/b/[é]']);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.error.code, 'E_KERNEL_LIMIT');
  assert.equal(!r.ok && r.error.path, '1');
  const small = { states: 8, cells: 1000 };
  const t = patternTable('file', ['/short', '/a/very/long/literal/path'], { pattern: (x) => x, source: () => '', entry: (): SlotEntry => ({ action: 'Block', readOnly: false, ownerOnly: false, recursive: false }), covers: () => true, breadth: () => 1 }, small);
  assert.equal(t.ok, false);
  assert.match(!t.ok ? t.error.message : '', /^pattern "\/a\/very\/long\/literal\/path": the patterns need \d+ automaton states, the kernel holds 8/);
  const cells = compilePatterns(Array.from({ length: 40 }, (_, i) => `/c${i}/*`), { states: 4096, cells: 64 });
  assert.equal(cells.ok, false);
  assert.match(!cells.ok ? cells.error.message : '', /^the patterns need \d+ states whose transitions take \d+ table cells, the kernel holds 64$/);
});

test('V16: a policy whose patterns do not fit the kernel automaton is refused, naming the pattern', () => {
  const policy = {
    apiVersion: 'security.kubearmor.com/v1', kind: 'KubeArmorPolicy', metadata: { name: 'p', namespace: 'ns' },
    spec: { selector: { matchLabels: { app: 'x' } }, file: { matchPatterns: [{ pattern: '/tmp/*' }, { pattern: '/tmp/[é]x' }] }, action: 'Block' },
  };
  const r = validatePolicy(policy);
  const problems = r.problems;
  const e = problems.find((p) => p.level === 'error');
  assert.ok(e, JSON.stringify(r));
  assert.equal(e.path, 'spec.file.matchPatterns[1].pattern');
  assert.match(e.message, /non-ASCII.*E_KERNEL_LIMIT/);
});

test('literalDir: the directory every match surely lies in', () => {
  assert.equal(literalDir('/etc/ssl/*.pem'), '/etc/ssl/');
  assert.equal(literalDir('/etc/passwd'), '/etc/');
  assert.equal(literalDir('/*/x'), '/');
  assert.equal(literalDir('/a{b,c}/x'), '/');
  assert.equal(literalDir('/a/b\\*'), '/a/');
});
