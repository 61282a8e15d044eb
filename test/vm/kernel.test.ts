// Kernel enforcement in real kernels: every kernel-* guest suite, on 6.12 and 6.1, in both
// attach modes (one boot per kernel × mode). The seed's cases run in real containers:
// test/vm/containers.test.ts.
import { registerVmTests } from '../../vm/harness/index.ts';

registerVmTests('kernel enforcement', {
  suites: [
    'test/vm/scenarios/kernel-exec.ts',
    'test/vm/scenarios/kernel-file.ts',
    'test/vm/scenarios/kernel-net.ts',
    'test/vm/scenarios/kernel-life.ts',
    'test/vm/scenarios/kernel-limits.ts',
    'test/vm/scenarios/kernel-attacks.ts',
  ],
  kernels: ['6.12', '6.1'],
  attachModes: ['cgroup', 'global'],
  // kernel-limits.ts: the budget of one hostile profile's load (default 1 s)
  env: { AG_VM_LOAD_BUDGET_MS: process.env.AG_VM_LOAD_BUDGET_MS ?? '1000' },
  timeoutMs: 720_000,
  scenarioTimeoutMs: 60_000,
});
