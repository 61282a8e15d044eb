// matchPatterns in the kernel (bpf/pattern.h) in real runc containers: on 6.12 and 6.1, both attach modes.
import { registerVmTests } from '../../vm/harness/index.ts';

registerVmTests('kernel patterns', {
  suites: ['test/vm/scenarios/kernel-patterns.ts'],
  kernels: ['6.12', '6.1'],
  attachModes: ['cgroup', 'global'],
  containers: true,
  timeoutMs: 720_000,
  scenarioTimeoutMs: 150_000,
});
