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
    'test/vm/scenarios/kernel-attacks.ts',
  ],
  kernels: ['6.12', '6.1'],
  attachModes: ['cgroup', 'global'],
  timeoutMs: 720_000,
  scenarioTimeoutMs: 60_000,
});
