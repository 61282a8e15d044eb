// KubeArmor's own scenario steps (kubearmor/KubeArmor tests/k8s_env/scenarios, commit 510cee31)
// that use readOnly or ownerOnly, as data: the policy (a file of ../shared/kubearmor/corpus (KUBEARMOR_DATA),
// read in place), the container it selects, and each step's user, command and expected result.
// KubeArmor runs a step as `kubectl exec <pod> -- bash -c "<cmd>"`; `su - user1 -c "..."` steps
// are written here with user 'user1' and the inner command (the runner puts the `su` back).
// Results: passed (exit 0), failed (refused), default (what the namespace's posture decides:
// the runner uses audit, so the command passes and a posture alert names the file).
// A scenario with `todo` is listed but not run, for the reason given.

export type Expect = 'passed' | 'failed' | 'default';
export interface KaStep { user: 'root' | 'user1'; cmd: string; expect: Expect; file: string }
export interface KaScenario {
  name: string;
  /** file name under ../shared/kubearmor/corpus (KUBEARMOR_DATA) */
  policy: string;
  /** the pod's `container` label the policy selects */
  container: string;
  steps: KaStep[];
  todo?: string;
}

const SECRET = '/home/user1/secret_data1.txt';
const KEY = '/home/user1/dir1/key1.txt';
const OTHER = '/home/user1/otherfile.txt';
const cat = (f: string): string => `cat ${f}`;
const append = (f: string): string => `echo test >> ${f}`;

export const KA_SCENARIOS: readonly KaScenario[] = [
  {
    name: 'multiubuntu_test_23', container: 'ubuntu-5',
    policy: 'examples__multiubuntu__security-policies__ksp-ubuntu-5-file-path-owner-readonly-block.yaml',
    steps: [
      { user: 'user1', cmd: cat(SECRET), expect: 'passed', file: SECRET },
      { user: 'user1', cmd: `/readwrite -w ${SECRET}`, expect: 'failed', file: SECRET },
      { user: 'root', cmd: cat(SECRET), expect: 'failed', file: SECRET },
      { user: 'root', cmd: `/readwrite -w ${SECRET}`, expect: 'failed', file: SECRET },
    ],
  },
  {
    name: 'multiubuntu_test_24', container: 'ubuntu-5',
    policy: 'examples__multiubuntu__security-policies__ksp-ubuntu-5-file-path-owner-readonly-block-from-source-path.yaml',
    steps: [
      { user: 'user1', cmd: `/readwrite -r ${SECRET}`, expect: 'passed', file: SECRET },
      { user: 'user1', cmd: `/readwrite -w ${SECRET}`, expect: 'failed', file: SECRET },
      { user: 'root', cmd: `/readwrite -r ${SECRET}`, expect: 'failed', file: SECRET },
      { user: 'root', cmd: `/readwrite -w ${SECRET}`, expect: 'failed', file: SECRET },
    ],
  },
  {
    name: 'multiubuntu_test_25', container: 'ubuntu-2',
    policy: 'examples__multiubuntu__security-policies__ksp-ubuntu-2-file-dir-recursive-owner-readonly-block.yaml',
    steps: [
      { user: 'root', cmd: cat(KEY), expect: 'failed', file: KEY },
      { user: 'user1', cmd: cat(KEY), expect: 'passed', file: KEY },
      { user: 'user1', cmd: append(KEY), expect: 'failed', file: KEY },
      { user: 'root', cmd: append(KEY), expect: 'failed', file: KEY },
    ],
  },
  {
    name: 'multiubuntu_test_26', container: 'ubuntu-2',
    policy: 'examples__multiubuntu__security-policies__ksp-ubuntu-2-file-dir-owner-readonly-block.yaml',
    steps: [
      { user: 'root', cmd: append(SECRET), expect: 'failed', file: SECRET },
      { user: 'root', cmd: cat(SECRET), expect: 'failed', file: SECRET },
      { user: 'user1', cmd: append(SECRET), expect: 'failed', file: SECRET },
      { user: 'user1', cmd: cat(SECRET), expect: 'passed', file: SECRET },
    ],
  },
  {
    name: 'github_test_06', container: 'ubuntu-1',
    policy: 'tests__k8s_env__scenarios__github_test_06__ksp-ubuntu-1-file-path-owner-readonly-allow.yaml',
    steps: [
      { user: 'user1', cmd: cat(SECRET), expect: 'passed', file: SECRET },
      { user: 'user1', cmd: append(SECRET), expect: 'default', file: SECRET },
      { user: 'root', cmd: cat(SECRET), expect: 'default', file: SECRET },
      { user: 'root', cmd: append(SECRET), expect: 'default', file: SECRET },
    ],
  },
  {
    name: 'github_test_07', container: 'ubuntu-1',
    policy: 'tests__k8s_env__scenarios__github_test_07__ksp-ubuntu-1-file-dir-recursive-owner-readonly-block.yaml',
    steps: [
      { user: 'root', cmd: cat(KEY), expect: 'failed', file: KEY },
      { user: 'user1', cmd: cat(KEY), expect: 'passed', file: KEY },
      { user: 'root', cmd: append(KEY), expect: 'failed', file: KEY },
      { user: 'user1', cmd: append(KEY), expect: 'failed', file: KEY },
    ],
  },
  {
    name: 'github_test_08', container: 'ubuntu-1',
    policy: 'tests__k8s_env__scenarios__github_test_08__ksp-ubuntu-1-file-pattern-owner-readonly-block.yaml',
    steps: [
      { user: 'user1', cmd: cat(SECRET), expect: 'passed', file: SECRET },
      { user: 'user1', cmd: append(SECRET), expect: 'failed', file: SECRET },
      { user: 'user1', cmd: cat(OTHER), expect: 'passed', file: OTHER },
      { user: 'user1', cmd: append(OTHER), expect: 'passed', file: OTHER },
      { user: 'root', cmd: cat(SECRET), expect: 'failed', file: SECRET },
      { user: 'root', cmd: append(SECRET), expect: 'failed', file: SECRET },
    ],
  },
];

/** The command KubeArmor's step runs: as user1 through `su - user1 -c`. */
export function stepCommand(s: KaStep): string {
  return s.user === 'root' ? s.cmd : `su - user1 -c ${JSON.stringify(s.cmd)}`;
}
