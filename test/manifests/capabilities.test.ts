// The enforcer DaemonSet's capabilities, in the VM (test/vm/ harness): enough to load and attach
// LSM programs in both attach modes, and each of them needed (capabilities.scenario.ts); the real
// enforcer with only those capabilities enforces a signed pod (capabilities-enforcer.scenario.ts).
// One boot: kernel 6.12 (UEK8's base), where both BPF_LSM_CGROUP and BPF_LSM_MAC exist.
import { registerVmTests } from '../../vm/harness/index.ts';

registerVmTests('manifests: enforcer capabilities', {
  suites: ['test/manifests/capabilities.scenario.ts', 'test/manifests/capabilities-enforcer.scenario.ts'],
  kernels: ['6.12'],
  attachModes: ['cgroup'],
  timeoutMs: 360_000,
});
