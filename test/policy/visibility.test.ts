// Visibility (KubeArmor's kubearmor-visibility): parsed from the pod, then the namespace, then the
// gateway's default; carried in the signed profile, which keeps its bytes when none is asked for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../../policy/compile.ts';
import { DEFAULT_POSTURE } from '../../policy/posture.ts';
import { decodeProfileAnnotation } from '../../policy/profile-codec.ts';
import { verifyAnnotations } from '../../policy/sign.ts';
import { parseVisibility, podVisibility } from '../../policy/visibility.ts';
import { ANN_PROFILE } from '../../policy/annotations.ts';
import { namespace, pod, policy } from './profile-fixtures.ts';

const KEY = Buffer.from('test-signing-key-of-some-length!');
const block = policy('no-apt', { selector: { matchLabels: { app: 'web' } }, process: { matchPaths: [{ path: '/usr/bin/apt' }] }, action: 'Block' }, { namespace: 'shop' });

test('parseVisibility: KubeArmor\'s words, any order and case, none; others ignored and named', () => {
  assert.deepEqual(parseVisibility('process,file,network,capabilities'), { kinds: ['capabilities', 'file', 'network', 'process'], ignored: [] });
  assert.deepEqual(parseVisibility(' Network , process '), { kinds: ['network', 'process'], ignored: [] });
  assert.deepEqual(parseVisibility('none'), { kinds: [], ignored: [] });
  assert.deepEqual(parseVisibility(''), { kinds: [], ignored: [] });
  assert.deepEqual(parseVisibility('process,dns,ima'), { kinds: ['process'], ignored: ['dns', 'ima'] });
});

test('the pod\'s annotation, else the namespace\'s, else the default', () => {
  const ns = namespace('shop', { 'kubearmor-visibility': 'process,file' });
  assert.deepEqual(podVisibility(pod({ app: 'web' }, { namespace: 'shop' }), ns, ['network']).kinds, ['file', 'process']);
  assert.deepEqual(podVisibility(pod({ app: 'web' }, { namespace: 'shop', annotations: { 'kubearmor-visibility': 'none' } }), ns, ['network']).kinds, []);
  assert.deepEqual(podVisibility(pod({ app: 'web' }, { namespace: 'shop' }), namespace('shop'), ['network', 'process']).kinds, ['network', 'process']);
  const w = podVisibility(pod({ app: 'web' }, { namespace: 'shop' }), namespace('shop', { 'kubearmor-visibility': 'process,dns' }), []);
  assert.deepEqual(w.kinds, ['process']);
  assert.match(w.warnings[0] ?? '', /namespace shop: annotation kubearmor-visibility: 'dns' is not one of/);
});

test('visibility is in the signed profile; without it the profile has no such member (unchanged bytes)', () => {
  const on = compile(pod({ app: 'web' }, { namespace: 'shop' }), namespace('shop', { 'kubearmor-visibility': 'file,process' }), [block], { defaultPosture: DEFAULT_POSTURE, signingKey: KEY });
  const off = compile(pod({ app: 'web' }, { namespace: 'shop' }), namespace('shop'), [block], { defaultPosture: DEFAULT_POSTURE, signingKey: KEY });
  assert.ok(on.ok && off.ok);
  assert.deepEqual(on.value.profile?.visibility, ['file', 'process']);
  assert.equal(off.value.profile?.visibility, undefined);
  assert.ok(!off.value.annotations[ANN_PROFILE]!.includes('visibility'));
  assert.ok(on.value.annotations[ANN_PROFILE]!.endsWith(',"version":1,"visibility":["file","process"]}'));
  const d = decodeProfileAnnotation(on.value.annotations[ANN_PROFILE]!);
  assert.ok(d.ok, d.ok ? '' : d.error.message);
  assert.deepEqual(d.value.profile.visibility, ['file', 'process']);
  const v = verifyAnnotations(on.value.annotations, 'shop', KEY);
  assert.ok(v.ok, v.ok ? '' : v.error.message);
  assert.deepEqual(v.value.profile.visibility, ['file', 'process']);
  // the digest covers it: a profile edited to see less fails verification
  const forged = { ...on.value.annotations, [ANN_PROFILE]: on.value.annotations[ANN_PROFILE]!.replace(',"visibility":["file","process"]', '') };
  assert.equal(verifyAnnotations(forged, 'shop', KEY).ok, false);
  // the default applies when neither pod nor namespace says
  const def = compile(pod({ app: 'web' }, { namespace: 'shop' }), namespace('shop'), [block], { defaultPosture: DEFAULT_POSTURE, defaultVisibility: ['process', 'network'], signingKey: KEY });
  assert.ok(def.ok);
  assert.deepEqual(def.value.profile?.visibility, ['network', 'process']);
});
