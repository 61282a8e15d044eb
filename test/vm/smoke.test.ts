// The VM harness's self-test: boots each kernel once per attach mode and checks the guest is what
// kernel tests expect (see test/vm/guest/smoke.scenario.ts) and that an LSM program of that
// attach mode loads, attaches and decides there.
import { registerVmTests } from './harness/index.ts';

registerVmTests('vm harness smoke', { suites: ['test/vm/guest/smoke.scenario.ts'], timeoutMs: 240_000 });
