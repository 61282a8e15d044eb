// The rename guard of pattern rules (enforcer/kernel/patterns.ts guardOf, policy/pattern-dfa.ts
// reachableBest): a directory whose path + "/" ends in a state from which a Block (else Audit)
// pattern can still match is guarded by that pattern's entry. Pure: no kernel.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { planProfile } from '../../enforcer/kernel/entries.ts';
import { guardOf, type PatternEnt } from '../../enforcer/kernel/patterns.ts';
import { ACTION } from '../../enforcer/kernel/layout.ts';
import { globMatches } from '../../policy/decide.ts';
import { endState, reachableBest, type PatternTable } from '../../policy/pattern-dfa.ts';
import type { Action, Profile, ProfileRule } from '../../policy/types.ts';

const rule = (action: Action, pattern: string): ProfileRule =>
  ({ action, target: { type: 'pattern', pattern }, readOnly: false, ownerOnly: false, fromSource: '', containers: [], policies: ['ns/p'], severity: 1, tags: [], message: '' });

function tableOf(rules: [Action, string][]): PatternTable<PatternEnt> {
  const profile: Profile = { version: 1, posture: { file: 'audit', process: 'audit', network: 'audit', capabilities: 'audit' }, process: [],
    file: rules.map(([a, p]) => rule(a, p)), network: [], capabilities: [] };
  const plan = planProfile(profile, { podId: 1, gen: 1, containers: [] });
  assert.ok(plan.ok, plan.ok ? '' : plan.error.message);
  return plan.value.patterns[0]!.table;
}

function guardAt(t: PatternTable<PatternEnt>, dir: string): string | null {
  const g = guardOf(t)[endState(t.dfa, dir)] ?? null;
  return g === null ? null : `${g.action === ACTION.Block ? 'Block' : g.action === ACTION.Audit ? 'Audit' : 'Allow'} ${g.pattern}`;
}

test('reachableBest: the best score reachable from each state, the higher score first', () => {
  // 0 dead; 1 → 2 → 3 (score 1), 1 → 4 (score 2), 5 alone (score 0)
  const ncls = 2;
  const next = new Uint16Array(6 * ncls);
  next[1 * ncls + 0] = 2; next[2 * ncls + 0] = 3; next[1 * ncls + 1] = 4; next[3 * ncls + 1] = 3;
  const score = [0, 0, 0, 1, 2, 0];
  assert.deepEqual([...reachableBest({ next, nstates: 6, ncls }, (st) => score[st]!)], [-1, 4, 3, 3, 4, -1]);
});

test('guardOf: a directory a Block or Audit pattern can match beneath is guarded by it; Allow patterns guard nothing', () => {
  const t = tableOf([['Block', '/srv/*/secret.key'], ['Audit', '/var/log/**'], ['Allow', '/app/**'], ['Block', '/{opt,usr}/bin/tool']]);
  assert.equal(guardAt(t, '/srv/a/'), 'Block /srv/*/secret.key');
  assert.equal(guardAt(t, '/srv/'), 'Block /srv/*/secret.key');
  assert.match(guardAt(t, '/') ?? '', /^Block /, 'the root reaches every pattern, a Block first');
  assert.equal(guardAt(t, '/srv/a/b/'), null, '* stays within one component');
  assert.equal(guardAt(t, '/tmp/a/'), null);
  assert.equal(guardAt(t, '/var/log/x/y/'), 'Audit /var/log/**');
  assert.equal(guardAt(t, '/app/x/'), null, 'an Allow pattern guards nothing');
  assert.equal(guardAt(t, '/usr/bin/'), 'Block /{opt,usr}/bin/tool');
  assert.equal(guardAt(t, '/usr/lib/'), null);
  // moves within one state keep every verdict beneath: the kernel leaves them alone
  assert.equal(endState(t.dfa, '/srv/a/'), endState(t.dfa, '/srv/b/'));
  assert.notEqual(endState(t.dfa, '/srv/a/'), endState(t.dfa, '/tmp/a/'));
});

test('random globs: wherever a Block or Audit pattern matches a name beneath a directory, the directory is guarded, a Block first', () => {
  const atom = fc.constantFrom('a', 'b', '/', '*', '**', '?', '[ab]', '{a,b/}', '.');
  const glob = fc.array(atom, { minLength: 1, maxLength: 5 }).map((a) => '/' + a.join(''));
  const seg = fc.array(fc.constantFrom('a', 'b', '.', 'c'), { minLength: 1, maxLength: 3 }).map((a) => a.join(''));
  fc.assert(fc.property(fc.array(fc.tuple(fc.constantFrom<Action>('Block', 'Audit', 'Allow'), glob), { minLength: 1, maxLength: 4 }),
    fc.array(seg, { minLength: 1, maxLength: 3 }), fc.array(seg, { minLength: 1, maxLength: 3 }), (rules, dirParts, rest) => {
      const t = tableOf(rules);
      const dir = `/${dirParts.join('/')}/`;
      const name = dir + rest.join('/');
      const matching = rules.filter(([a, p]) => a !== 'Allow' && globMatches(p, name));
      const g = guardOf(t)[endState(t.dfa, dir)] ?? null;
      if (matching.length > 0) {
        assert.ok(g !== null, `${dir} holds ${name}, matched by ${JSON.stringify(matching)}, yet is unguarded`);
        if (matching.some(([a]) => a === 'Block')) assert.equal(g.action, ACTION.Block, `${dir}: a Block pattern matches beneath`);
      }
      if (g !== null) assert.ok(rules.some(([a, p]) => a !== 'Allow' && p === g.pattern), 'the guard is a Block or Audit pattern');
    }), { numRuns: 400 });
});
