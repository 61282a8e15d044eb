import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_POSTURE, formatPosture, namespacePosture, namespacePostureWarnings, parsePostureSpec } from '../../policy/posture.ts';
import { namespace } from './profile-fixtures.ts';

test('parsePostureSpec: any subset, rest from defaults, process follows file', () => {
  assert.deepEqual(parsePostureSpec(''), { ok: true, value: DEFAULT_POSTURE });
  assert.deepEqual(parsePostureSpec('network=block'), { ok: true, value: { file: 'audit', network: 'block', capabilities: 'audit', process: 'audit' } });
  assert.deepEqual(parsePostureSpec('file=block'), { ok: true, value: { file: 'block', network: 'audit', capabilities: 'audit', process: 'block' } });
  assert.deepEqual(parsePostureSpec('process=audit, FILE=Block'), { ok: true, value: { file: 'block', network: 'audit', capabilities: 'audit', process: 'audit' } });
  assert.deepEqual(parsePostureSpec('file=audit,network=block,capabilities=block,process=block'),
    { ok: true, value: { file: 'audit', network: 'block', capabilities: 'block', process: 'block' } });
});

test('parsePostureSpec: errors name the entry at fault', () => {
  for (const [s, word] of [['file=deny', 'deny'], ['disk=audit', 'disk'], ['file', 'file'], ['file=audit,file=block', 'twice']] as const) {
    const r = parsePostureSpec(s);
    assert.equal(r.ok, false, s);
    if (!r.ok) { assert.equal(r.error.code, 'E_POSTURE'); assert.match(r.error.message, new RegExp(word)); }
  }
});

test('formatPosture: all four in the order file, network, capabilities, process', () => {
  assert.equal(formatPosture({ process: 'block', capabilities: 'audit', network: 'block', file: 'audit' }),
    'file=audit,network=block,capabilities=audit,process=block');
});

test('namespacePosture: namespace annotations, then defaults; process follows the namespace file posture', () => {
  const defaults = { file: 'audit', network: 'audit', capabilities: 'block', process: 'audit' } as const;
  assert.deepEqual(namespacePosture(null, defaults), defaults);
  assert.deepEqual(namespacePosture(namespace('n', { 'kubearmor-file-posture': 'block', 'kubearmor-network-posture': 'Block' }), defaults),
    { file: 'block', network: 'block', capabilities: 'block', process: 'block' });
  assert.deepEqual(namespacePosture(namespace('n', { 'kubearmor-capabilities-posture': 'audit' }), defaults),
    { file: 'audit', network: 'audit', capabilities: 'audit', process: 'audit' });
  // invalid values fall back to the default, with a warning
  const bad = namespace('n', { 'kubearmor-file-posture': 'deny' });
  assert.deepEqual(namespacePosture(bad, { ...defaults, file: 'block', process: 'block' }), { file: 'block', network: 'audit', capabilities: 'block', process: 'block' });
  assert.equal(namespacePostureWarnings(bad).length, 1);
  assert.match(namespacePostureWarnings(bad)[0]!, /kubearmor-file-posture.*deny/);
  assert.deepEqual(namespacePostureWarnings(namespace('n', { 'kubearmor-file-posture': 'audit' })), []);
});
