// KubeArmor's own scenario steps whose policies use matchPatterns, readOnly or ownerOnly
// (test/support/kubearmor-steps.ts), through the reference decision: each policy, read in place
// from the corpus, compiled for the pod it selects under an audit posture, gives each step the
// result KubeArmor expects (failed: a rule blocks; default: the posture decides; passed: allowed,
// not by the posture). The kernel's answer to the same steps, in a real container:
// test/vm/scenarios/kubearmor-steps.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { decide } from '../../policy/decide.ts';
import { KA_SCENARIOS, kaProfile, stepAccess, stepCommand, type Expect } from '../support/kubearmor-steps.ts';
import { KUBEARMOR_DATA, missingData } from './kubearmor-data.ts';

const skip = missingData('corpus');

test('KubeArmor steps: the data names distinct scenarios, each step a file of the multiubuntu layout', () => {
  assert.equal(new Set(KA_SCENARIOS.map((k) => k.name)).size, KA_SCENARIOS.length);
  for (const ka of KA_SCENARIOS) for (const s of ka.steps) assert.doesNotThrow(() => stepAccess(s), `${ka.name}: ${s.cmd}`);
});

for (const ka of KA_SCENARIOS) {
  test(`KubeArmor ${ka.name}: ${ka.steps.length} steps, decide() as KubeArmor expects`, { skip: skip || ka.todo }, () => {
    const profile = kaProfile(ka, join(KUBEARMOR_DATA, 'corpus'));
    const got = ka.steps.map((s) => {
      const d = decide(profile, { ...stepAccess(s), container: ka.container });
      const r: Expect = d.byPosture ? 'default' : d.verdict === 'block' ? 'failed' : 'passed';
      return `${stepCommand(s)}: ${r}${d.byPosture && d.verdict !== 'audit' ? ` (posture ${d.verdict})` : ''}`;
    });
    assert.deepEqual(got, ka.steps.map((s) => `${stepCommand(s)}: ${s.expect}`));
  });
}
