// KubeArmor's own scenario steps (kubearmor/KubeArmor tests/k8s_env/scenarios, commit 510cee31)
// whose policy uses matchPatterns, readOnly or ownerOnly, as data: the policy (a file of
// ../shared/kubearmor/corpus (KUBEARMOR_DATA), read in place), the container it selects, and each
// step's user, command and expected result. Of KubeArmor's 42 scenarios, 18 have such a policy:
// github_test_03, 06–08 and multiubuntu_test_09, 11, 14–16, 19–27 (the others: process, network
// and capability rules, plain paths and directories). github_test_03 and multiubuntu_test_11
// (the same rules: `cat` of /etc/shadow, /etc/gshadow, /etc/hostname under /etc/*hado?) run in
// test/vm/scenarios/kernel-patterns.ts; the other 16 (56 steps) are here.
// KubeArmor runs a step as `kubectl exec <pod> -- bash -c "<cmd>"`; `su - user1 -c "..."` steps
// are written here with user 'user1' and the inner command (the runner puts the `su` back).
// Results: passed (exit 0), failed (refused), default (what the namespace's posture decides:
// the runner uses audit, so the command passes and a posture alert names the file).
// A step's `kind` is KubeArmor's `operation` (File unless said otherwise).
// A scenario with `todo` is listed but not run, for the reason given.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../../policy/compile.ts';
import { parseDocuments } from '../../policy/parse.ts';
import { validatePolicy } from '../../policy/validate.ts';
import type { Pod, PostureSet, Profile } from '../../policy/types.ts';

export type Expect = 'passed' | 'failed' | 'default';
export interface KaStep { user: 'root' | 'user1'; cmd: string; expect: Expect; file: string; kind?: 'file' | 'process' }
export interface KaScenario {
  name: string;
  /** file name under ../shared/kubearmor/corpus (KUBEARMOR_DATA) */
  policy: string;
  /** the pod's `container` label the policy selects */
  container: string;
  steps: KaStep[];
  todo?: string;
}

/** The files of KubeArmor's multiubuntu image the steps use (its build/Dockerfile), with their
 *  owner; /readwrite and /home/user1/hello are built in the guest (test/support/readwrite.c,
 *  hello.c). */
export const MULTIUBUNTU_FILES: readonly { path: string; text: string; owner: 'root' | 'user1' }[] = [
  { path: '/home/user1/secret_data1.txt', text: 'secret file user1\n', owner: 'user1' },
  { path: '/home/user1/dir1/key1.txt', text: 'key file 1\n', owner: 'user1' },
  { path: '/home/user1/otherfile.txt', text: 'other file\n', owner: 'user1' },
  { path: '/secret.txt', text: 'secret file\n', owner: 'root' },
  { path: '/credentials/password', text: 'password file\n', owner: 'root' },
];
/** The image's programs: path, source under test/support, owner. */
export const MULTIUBUNTU_PROGRAMS: readonly { path: string; source: string; owner: 'root' | 'user1' }[] = [
  { path: '/readwrite', source: 'readwrite.c', owner: 'root' },
  { path: '/home/user1/hello', source: 'hello.c', owner: 'user1' },
];

const SECRET = '/home/user1/secret_data1.txt';
const KEY = '/home/user1/dir1/key1.txt';
const OTHER = '/home/user1/otherfile.txt';
const PASSWORD = '/credentials/password';
const ROOT_SECRET = '/secret.txt';
const HELLO = '/home/user1/hello';
const cat = (f: string): string => `cat ${f}`;
const append = (f: string): string => `echo test >> ${f}`;
const rw = (mode: 'r' | 'w', f: string): string => `/readwrite -${mode} ${f}`;

export const KA_SCENARIOS: readonly KaScenario[] = [
  {
    name: 'multiubuntu_test_09', container: 'ubuntu-4',
    policy: 'examples__multiubuntu__security-policies__ksp-ubuntu-4-file-path-readonly-allow.yaml',
    steps: [
      { user: 'root', cmd: cat(PASSWORD), expect: 'passed', file: PASSWORD },
      { user: 'root', cmd: append(PASSWORD), expect: 'default', file: PASSWORD },
    ],
  },
  {
    name: 'multiubuntu_test_14', container: 'ubuntu-3',
    policy: 'examples__multiubuntu__security-policies__ksp-ubuntu-3-proc-path-owner-allow.yaml',
    steps: [
      { user: 'root', cmd: HELLO, expect: 'default', file: HELLO, kind: 'process' },
      { user: 'user1', cmd: HELLO, expect: 'passed', file: HELLO, kind: 'process' },
    ],
  },
  {
    name: 'multiubuntu_test_15', container: 'ubuntu-3',
    policy: 'examples__multiubuntu__security-policies__ksp-ubuntu-3-proc-path-owner-block.yaml',
    steps: [
      { user: 'root', cmd: HELLO, expect: 'failed', file: HELLO, kind: 'process' },
      { user: 'user1', cmd: HELLO, expect: 'passed', file: HELLO, kind: 'process' },
    ],
  },
  {
    name: 'multiubuntu_test_16', container: 'ubuntu-4',
    policy: 'examples__multiubuntu__security-policies__ksp-ubuntu-4-file-path-readonly-block.yaml',
    steps: [
      { user: 'root', cmd: cat(PASSWORD), expect: 'passed', file: PASSWORD },
      { user: 'root', cmd: `echo "test" >> ${PASSWORD}`, expect: 'failed', file: PASSWORD },
    ],
  },
  {
    name: 'multiubuntu_test_19', container: 'ubuntu-4',
    policy: 'examples__multiubuntu__security-policies__ksp-ubuntu-4-file-path-readonly-allow-from-source-path.yaml',
    steps: [
      { user: 'root', cmd: rw('r', PASSWORD), expect: 'passed', file: PASSWORD },
      { user: 'root', cmd: rw('w', PASSWORD), expect: 'default', file: PASSWORD },
      { user: 'root', cmd: rw('r', ROOT_SECRET), expect: 'default', file: ROOT_SECRET },
    ],
  },
  {
    name: 'multiubuntu_test_20', container: 'ubuntu-4',
    policy: 'examples__multiubuntu__security-policies__ksp-ubuntu-4-file-path-readonly-block-from-source-path.yaml',
    steps: [
      { user: 'root', cmd: rw('r', PASSWORD), expect: 'passed', file: PASSWORD },
      { user: 'root', cmd: rw('w', PASSWORD), expect: 'failed', file: PASSWORD },
      { user: 'root', cmd: rw('r', ROOT_SECRET), expect: 'passed', file: ROOT_SECRET },
    ],
  },
  {
    name: 'multiubuntu_test_21', container: 'ubuntu-3',
    policy: 'examples__multiubuntu__security-policies__ksp-ubuntu-3-file-path-owner-allow.yaml',
    steps: [
      { user: 'user1', cmd: cat(SECRET), expect: 'passed', file: SECRET },
      { user: 'root', cmd: cat(SECRET), expect: 'default', file: SECRET },
    ],
  },
  {
    name: 'multiubuntu_test_22', container: 'ubuntu-5',
    policy: 'examples__multiubuntu__security-policies__ksp-ubuntu-5-file-path-owner-readonly-allow.yaml',
    steps: [
      { user: 'user1', cmd: cat(SECRET), expect: 'passed', file: SECRET },
      { user: 'user1', cmd: append(SECRET), expect: 'default', file: SECRET },
      { user: 'root', cmd: cat(SECRET), expect: 'default', file: SECRET },
      { user: 'root', cmd: append(SECRET), expect: 'default', file: SECRET },
    ],
  },
  {
    name: 'multiubuntu_test_23', container: 'ubuntu-5',
    policy: 'examples__multiubuntu__security-policies__ksp-ubuntu-5-file-path-owner-readonly-block.yaml',
    steps: [
      { user: 'user1', cmd: cat(SECRET), expect: 'passed', file: SECRET },
      { user: 'user1', cmd: rw('w', SECRET), expect: 'failed', file: SECRET },
      { user: 'root', cmd: cat(SECRET), expect: 'failed', file: SECRET },
      { user: 'root', cmd: rw('w', SECRET), expect: 'failed', file: SECRET },
    ],
  },
  {
    name: 'multiubuntu_test_24', container: 'ubuntu-5',
    policy: 'examples__multiubuntu__security-policies__ksp-ubuntu-5-file-path-owner-readonly-block-from-source-path.yaml',
    steps: [
      { user: 'user1', cmd: rw('r', SECRET), expect: 'passed', file: SECRET },
      { user: 'user1', cmd: rw('w', SECRET), expect: 'failed', file: SECRET },
      { user: 'root', cmd: rw('r', SECRET), expect: 'failed', file: SECRET },
      { user: 'root', cmd: rw('w', SECRET), expect: 'failed', file: SECRET },
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
    name: 'multiubuntu_test_27', container: 'ubuntu-1',
    policy: 'examples__multiubuntu__security-policies__ksp-ubuntu-1-file-pattern-owner-readonly-block.yaml',
    steps: [
      { user: 'user1', cmd: cat(SECRET), expect: 'passed', file: SECRET },
      { user: 'user1', cmd: append(SECRET), expect: 'failed', file: SECRET },
      { user: 'user1', cmd: append(OTHER), expect: 'passed', file: OTHER },
      { user: 'root', cmd: append(OTHER), expect: 'passed', file: OTHER },
      { user: 'root', cmd: append(SECRET), expect: 'failed', file: SECRET },
      { user: 'root', cmd: cat(SECRET), expect: 'failed', file: SECRET },
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

/** Who owns a file or program of the multiubuntu layout. */
export function ownerOf(path: string): 'root' | 'user1' {
  const f = [...MULTIUBUNTU_FILES, ...MULTIUBUNTU_PROGRAMS].find((x) => x.path === path);
  if (!f) throw new Error(`${path} is not in the multiubuntu layout`);
  return f.owner;
}

/** The access a step makes, as policy/decide.ts takes it: the program that acts (a `bash -c` of
 *  one command execs it; an `echo >>` is bash's own open), the file or program, whether it
 *  changes the file, whether the acting user owns it. */
export function stepAccess(s: KaStep): { kind: 'file' | 'process'; source: string; path: string; write: boolean; owner: boolean } {
  const owner = ownerOf(s.file) === s.user;
  if (s.kind === 'process') {
    if (s.cmd !== s.file) throw new Error(`unknown process step: ${s.cmd}`);
    return { kind: 'process', source: '/usr/bin/bash', path: s.file, write: false, owner };
  }
  const m = /^(?:cat (\S+)|echo "?test"? >> (\S+)|\/readwrite -([rw]) (\S+))$/.exec(s.cmd);
  const path = m?.[1] ?? m?.[2] ?? m?.[4];
  if (!m || path !== s.file) throw new Error(`unknown file step: ${s.cmd} (file ${s.file})`);
  if (m[1]) return { kind: 'file', source: '/usr/bin/cat', path, write: false, owner };
  if (m[2]) return { kind: 'file', source: '/usr/bin/bash', path, write: true, owner };
  return { kind: 'file', source: '/readwrite', path, write: m[3] === 'w', owner };
}

/** The posture the steps run under: audit, so that a `default` step passes with a posture alert. */
export const KA_POSTURE: PostureSet = { file: 'audit', network: 'audit', capabilities: 'audit', process: 'audit' };

/** The profile the gateway compiles for the scenario's pod (labelled `container: <container>`, in
 *  the policy's namespace) from its policy, read in place from the corpus directory. */
export function kaProfile(ka: KaScenario, corpus: string): Profile {
  const docs = parseDocuments(readFileSync(join(corpus, ka.policy)));
  const v = validatePolicy(docs[0]?.value);
  assert.ok(v.policy, `${ka.policy}: ${JSON.stringify(v.problems)}`);
  const ns = v.policy.metadata?.namespace ?? 'default';
  const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: `${ka.container}-pod`, namespace: ns, labels: { container: ka.container } }, spec: { containers: [{ name: ka.container }] } };
  const compiled = compile(pod, null, [v.policy], { defaultPosture: KA_POSTURE });
  assert.ok(compiled.ok, JSON.stringify(compiled));
  assert.ok(compiled.value.profile, `${ka.policy} selects the pod`);
  return compiled.value.profile;
}
