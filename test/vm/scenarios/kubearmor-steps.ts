// Guest suite: KubeArmor's own scenario steps whose policies use matchPatterns, readOnly or
// ownerOnly (test/support/kubearmor-steps.ts), each scenario in one real container of a pod the
// policy selects (labelled `container: ubuntu-N`), laid out like KubeArmor's multiubuntu image
// (user1 with its home and files, /secret.txt, /credentials/password, /readwrite,
// /home/user1/hello owned by user1), its policy read from ../shared/kubearmor and compiled as the
// gateway compiles it. The steps run in order in one `runc exec` (an exec is slow under TCG): a
// shell runs each as `bash -c` (as user1 through `su - user1 -c`), prints its exit code and waits
// on a FIFO until the guest has collected the step's alerts, so each alert is the step's own.
// Checked: the exit code, and for a refused step the rule's Block alert, for a `default` step the
// posture's alert, for a passed one no posture alert. Control: one container outside every pod,
// where every command a pod refuses passes.
import { dirname, join } from 'node:path';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, closeSync, constants, copyFileSync, existsSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { ONE_BOOT_PER_KERNEL_CROSSED, scenario, type Container, type ScenarioBoot, type ScenarioContext } from '../../../vm/guest/scenario.ts';
import type { KernelEvent } from '../../../enforcer/kernel/index.ts';
import { KA_SCENARIOS, MULTIUBUNTU_FILES, MULTIUBUNTU_PROGRAMS, kaProfile, stepCommand, type KaScenario, type KaStep } from '../../support/kubearmor-steps.ts';
import { loadPod, type LoadedPod } from '../../../vm/guest/kit/kernel.ts';
import { KUBEARMOR_DATA } from '../../policy/kubearmor-data.ts';

export const CORPUS = join(KUBEARMOR_DATA, 'corpus');
const UID = { root: 0, user1: 1000 } as const;
const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));
/** Where the shell in the container waits between steps. */
const FIFO = '/ag-next-step';
/** Runs "$@" one by one: each as `bash -c`, then its exit code on a line of its own, then (but
 *  after the last) a line read from the FIFO. */
const DRIVER = `i=0; for c in "$@"; do bash -c "$c"; r=$?; i=$((i+1)); printf '\\nag-step %d %d\\n' "$i" "$r"; if [ "$i" -lt "$#" ]; then read -r _ < ${FIFO}; fi; done`;

/** The image's programs, built static once per boot (the guest's /tmp outlives the scenarios' own tmp dirs). */
function buildPrograms(ctx: ScenarioContext): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of MULTIUBUNTU_PROGRAMS) {
    const bin = `/tmp/ag-kubearmor-${p.source.replace(/\.c$/, '')}`;
    if (!existsSync(bin)) execFileSync('gcc', ['-static', '-O1', '-o', bin, `${ctx.root}/test/support/${p.source}`], { stdio: 'pipe' });
    out.set(p.path, bin);
  }
  return out;
}

/** The multiubuntu image's user1, files and programs, made from the guest's side (outside every pod). */
function multiubuntu(c: Container, programs: Map<string, string>): void {
  const r = c.rootfs;
  appendFileSync(`${r}/etc/passwd`, 'user1:x:1000:1000::/home/user1:/bin/bash\n');
  appendFileSync(`${r}/etc/group`, 'user1:x:1000:\n');
  appendFileSync(`${r}/etc/shadow`, 'user1:!:20000:0:99999:7:::\n');
  mkdirSync(`${r}/home/user1/dir1`, { recursive: true, mode: 0o755 });
  chownSync(`${r}/home/user1`, 1000, 1000);
  chownSync(`${r}/home/user1/dir1`, 1000, 1000);
  const own = (f: string, owner: 'root' | 'user1'): void => chownSync(r + f, UID[owner], UID[owner]);
  for (const f of MULTIUBUNTU_FILES) {
    mkdirSync(dirname(r + f.path), { recursive: true });
    writeFileSync(r + f.path, f.text, { mode: 0o644 });
    own(f.path, f.owner);
  }
  for (const p of MULTIUBUNTU_PROGRAMS) {
    copyFileSync(programs.get(p.path)!, r + p.path);
    chmodSync(r + p.path, 0o755);
    own(p.path, p.owner);
  }
}

const kindOf = (s: KaStep): 'file' | 'process' => s.kind ?? 'file';
const isBlock = (e: KernelEvent): boolean => e.denied && e.action === 'Block' && e.rule !== null;
const isPosture = (e: KernelEvent): boolean => e.rule === null && e.action === 'Audit';

/** The alerts a step must raise before its result can be judged: failed, the rule's Block;
 *  default, the posture's. */
function awaited(s: KaStep): ((e: KernelEvent) => boolean) | null {
  return s.expect === 'failed' ? isBlock : s.expect === 'default' ? isPosture : null;
}

/** Lines `ag-step <n> <code>` of the driver's stdout, as they come. */
function stepResults(child: NodeJS.ReadableStream | null): (n: number, ms: number) => Promise<number> {
  const codes = new Map<number, number>();
  let buf = '';
  child?.on('data', (d: Buffer) => {
    buf += d.toString();
    for (const m of buf.matchAll(/^ag-step (\d+) (\d+)$/gm)) codes.set(Number(m[1]), Number(m[2]));
  });
  return async (n, ms) => {
    const end = Date.now() + ms;
    while (!codes.has(n)) {
      if (Date.now() > end) throw new Error(`step ${n}: no result within ${ms} ms; output so far: ${buf.slice(-2000)}`);
      await sleep(25);
    }
    return codes.get(n)!;
  };
}

/** Lets the driver go on to its next step: a line into the FIFO once it waits there (an open
 *  that does not block, so that a driver gone early fails the step instead of hanging). */
async function release(fifo: string, ended: () => boolean): Promise<void> {
  for (;;) {
    try {
      const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      try { writeSync(fd, '\n'); } finally { closeSync(fd); }
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENXIO' || ended()) throw e;
      await sleep(10);
    }
  }
}

async function runSteps(ctx: ScenarioContext, ka: KaScenario, c: Container, pod: LoadedPod): Promise<string[]> {
  execFileSync('mkfifo', ['-m', '0600', c.rootfs + FIFO]);
  let seen = pod.mine().length;
  const run = c.start(['bash', '-c', DRIVER, 'ka', ...ka.steps.map(stepCommand)], { timeoutMs: 180_000 });
  let ended = false;
  void run.done.then(() => { ended = true; });
  const result = stepResults(run.child.stdout);
  const wrong: string[] = [];
  for (const [i, step] of ka.steps.entries()) {
    const cmd = stepCommand(step);
    const code = await result(i + 1, 60_000);
    const want = awaited(step);
    const mineNow = (): KernelEvent[] => pod.mine().slice(seen).filter((e) => e.target === step.file && e.kind === kindOf(step));
    // the step's alert, or (none awaited) a moment for an unwanted one to show
    const end = Date.now() + (want ? 5000 : 300);
    while (Date.now() < end && !(want && mineNow().some(want))) await sleep(25);
    const events = mineNow();
    seen = pod.mine().length;
    if (i + 1 < ka.steps.length) await release(c.rootfs + FIFO, () => ended);
    const got = code === 0 ? 'passed' : 'failed';
    ctx.log(`${ka.name} cmd${i + 1} ${cmd}: exit ${code} (${got}), want ${step.expect}; alerts ${events.map((e) => `${e.action}${e.denied ? ' denied' : ''}${e.rule ? '' : ' posture'}`).join(', ') || 'none'}`);
    if (step.expect === 'failed') {
      if (code === 0) wrong.push(`cmd${i + 1} ${cmd}: passed, want failed`);
      else if (!events.some(isBlock)) wrong.push(`cmd${i + 1} ${cmd}: refused without a Block alert for ${step.file}`);
    } else {
      if (code !== 0) wrong.push(`cmd${i + 1} ${cmd}: exit ${code}, want ${step.expect}`);
      const posture = events.some(isPosture);
      if (step.expect === 'default' && !posture) wrong.push(`cmd${i + 1} ${cmd}: no posture alert for ${step.file}`);
      if (step.expect === 'passed' && posture) wrong.push(`cmd${i + 1} ${cmd}: a posture alert, want a rule's allow`);
    }
  }
  const done = await run.done;
  if (done.code !== 0) wrong.push(`the driver: exit ${done.code}: ${done.stderr}`);
  if (wrong.length > 0) ctx.log(`${ka.name} output: ${done.stdout}${done.stderr}`);
  return wrong;
}

async function runScenario(ctx: ScenarioContext, ka: KaScenario): Promise<void> {
  const profile = kaProfile(ka, CORPUS);
  const pod = await loadPod(ctx, profile, { containers: [ka.container] });
  const c = await ctx.container({ pod: { uid: pod.uid } });
  multiubuntu(c, buildPrograms(ctx));
  const wrong = await runSteps(ctx, ka, c, pod);
  ctx.emit('kubearmor-steps', { scenario: ka.name, steps: ka.steps.length, wrong: wrong.length });
  assert.deepEqual(wrong, []);
}

const run = KA_SCENARIOS.filter((ka) => !ka.todo); // todo ones are listed by the host test file
// what the programs decide is the same code in both attach modes: once per kernel. On 6.12 in
// global mode (its cgroup boot is the suite's longest); on 6.1 half in each mode, which balances
// the two 6.1 boots that run side by side
const KA_BOOTS = (i: number): readonly ScenarioBoot[] => (i % 2 === 0 ? ONE_BOOT_PER_KERNEL_CROSSED : [{ kernel: '6.12', attachMode: 'global' }, { kernel: '6.1', attachMode: 'global' }]);
run.forEach((ka, i) => {
  const users = [...new Set(ka.steps.map((s) => s.user))].join(' and ');
  scenario(`kubearmor ${ka.name} (${ka.policy.replace(/^.*__/, '').replace(/\.yaml$/, '')}, ${ka.container}): ${ka.steps.length} steps as ${users}`, (ctx) => runScenario(ctx, ka), { timeoutMs: 240_000, on: KA_BOOTS(i) });
});

// The control: each command a pod refuses (no other step fails in the pod: a `default` one passes
// under the audit posture), once, run where no policy applies
const refused = [...new Set(run.flatMap((ka) => ka.steps.filter((s) => s.expect === 'failed').map(stepCommand)))];
scenario(`kubearmor control: the ${refused.length} commands the pods refuse pass in a container outside every pod`, async (ctx) => {
  const c = await ctx.container({});
  multiubuntu(c, buildPrograms(ctx));
  const script = `for c in "$@"; do bash -c "$c" >/dev/null 2>&1 || echo "failed: $c"; done; exit 0`;
  const r = await c.exec(['bash', '-c', script, 'ka', ...refused], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '', 'every command passes outside the pod');
}, { timeoutMs: 240_000, on: ONE_BOOT_PER_KERNEL_CROSSED });
