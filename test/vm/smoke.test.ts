// The VM harness's self-test: boots each kernel once and checks the guest is what kernel tests
// expect (see test/vm/guest/smoke.scenario.ts) and that LSM programs of both attach types
// (BPF_LSM_CGROUP and BPF_LSM_MAC) load, attach and decide there. The attach mode the host passes
// does not matter to these scenarios, so one boot per kernel is enough.
import { registerVmTests } from '../../vm/harness/index.ts';

registerVmTests('harness smoke', { suites: ['test/vm/guest/smoke.scenario.ts'], attachModes: ['cgroup'], timeoutMs: 240_000 });
