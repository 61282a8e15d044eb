// readOnly/ownerOnly as KubeArmor means them, in real containers: every cell of the table as the
// owner, root and another user, and KubeArmor's own scenario steps that use them (policies read
// from ../shared/kubearmor; skipped, saying so, when it is absent; steps that need the kernel
// to match patterns are listed as todo), and hard links. On 6.12 and 6.1, both attach modes.
import { join } from 'node:path';
import { test } from 'node:test';
import { existsSync } from 'node:fs';
import { registerVmTests } from '../../vm/harness/index.ts';
import { KA_SCENARIOS } from '../support/kubearmor-steps.ts';
import { KUBEARMOR_DATA } from '../policy/kubearmor-data.ts';

const CORPUS = join(KUBEARMOR_DATA, 'corpus');
const haveCorpus = existsSync(CORPUS);

registerVmTests('owner semantics', {
  suites: ['test/vm/scenarios/owner-cells.ts', 'test/vm/scenarios/hardlinks.ts', ...(haveCorpus ? ['test/vm/scenarios/kubearmor-steps.ts'] : [])],
  kernels: ['6.12', '6.1'],
  attachModes: ['cgroup', 'global'],
  containers: true,
  timeoutMs: 900_000,
  scenarioTimeoutMs: 240_000,
});

if (!haveCorpus) test('vm: KubeArmor scenario steps', { skip: `${CORPUS} is absent: KubeArmor's policies are read in place, never copied` }, () => {});
for (const ka of KA_SCENARIOS.filter((k) => k.todo)) {
  test(`vm: kubearmor ${ka.name}: ${ka.steps.length} steps`, { todo: ka.todo }, () => {});
}
