// readOnly/ownerOnly as KubeArmor means them: every cell of docs/selection.md's table
// (test/support/owner-table.ts), on every target type, through the reference decision.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, type Verdict } from '../../policy/decide.ts';
import { qualifies } from '../../policy/qualifiers.ts';
import type { Profile, ProfileRule, Target } from '../../policy/types.ts';
import { OWNER_TABLE, flagsOf, type Cell } from '../support/owner-table.ts';

const TARGETS: [string, Target, string][] = [
  ['path', { type: 'path', path: '/home/user1/secret' }, '/home/user1/secret'],
  ['directory', { type: 'directory', dir: '/home/user1/', recursive: false }, '/home/user1/secret'],
  ['recursive directory', { type: 'directory', dir: '/home/user1/', recursive: true }, '/home/user1/dir1/key1.txt'],
  ['pattern', { type: 'pattern', pattern: '/home/user1/secret*' }, '/home/user1/secret_data1.txt'],
];

function profileWith(rule: ProfileRule): Profile {
  return { version: 1, posture: { file: 'block', network: 'audit', capabilities: 'audit', process: 'audit' }, process: [], file: [rule], network: [], capabilities: [] };
}

const want = (c: Cell): Verdict => (c === 'posture' ? 'block' : c);

for (const row of OWNER_TABLE) {
  for (const [tname, target, path] of TARGETS) {
    test(`${row.action} ${row.flags} on a ${tname}: owner read ${row.ownerRead}, owner write ${row.ownerWrite}, other read ${row.otherRead}, other write ${row.otherWrite}`, () => {
      const rule: ProfileRule = { action: row.action, target, ...flagsOf(row.flags), fromSource: '', containers: [], policies: ['t/p'], severity: 1, tags: [], message: '' };
      const p = profileWith(rule);
      const cells: [boolean, boolean, Cell][] = [[true, false, row.ownerRead], [true, true, row.ownerWrite], [false, false, row.otherRead], [false, true, row.otherWrite]];
      for (const [owner, write, cell] of cells) {
        const d = decide(p, { kind: 'file', path, source: '/bin/sh', owner, write });
        assert.equal(d.verdict, want(cell), `owner ${owner} write ${write}`);
        assert.equal(d.byPosture, cell === 'posture', `owner ${owner} write ${write}: by posture`);
        // outside the rule's target nothing changes
        const away = decide(p, { kind: 'file', path: '/srv/other', source: '/bin/sh', owner, write });
        assert.equal(away.verdict, row.action === 'Allow' ? 'block' : 'allow');
      }
    });
  }
}

test('ownerOnly on process rules: Block denies others\' execs, Allow allows only the owner\'s; readOnly means nothing there', () => {
  assert.equal(qualifies('process', 'Block', { readOnly: false, ownerOnly: true }, false, true), false);
  assert.equal(qualifies('process', 'Block', { readOnly: false, ownerOnly: true }, false, false), true);
  assert.equal(qualifies('process', 'Allow', { readOnly: false, ownerOnly: true }, false, true), true);
  assert.equal(qualifies('process', 'Allow', { readOnly: false, ownerOnly: true }, false, false), false);
  assert.equal(qualifies('process', 'Block', { readOnly: true, ownerOnly: false }, false, false), true);
  assert.equal(qualifies('file', 'Block', { readOnly: false, ownerOnly: false }, false, true), true);
});
