// Guest suite: KubeArmor's own scenario steps that use readOnly/ownerOnly (test/support/kubearmor-steps.ts),
// each scenario in a real container laid out like KubeArmor's multiubuntu image (user1 with its
// home, secret_data1.txt, dir1/key1.txt, otherfile.txt owned by user1, /readwrite), its policy
// read from ../shared/kubearmor and compiled as the gateway compiles it for a pod the policy
// selects; every step run as `bash -c` (as user1 through `su - user1 -c`), its result checked, and
// for a refused step the Block alert, for a `default` step the posture's alert. Control: each
// step in a container outside every pod passes.
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { scenario, type Container, type ScenarioContext } from '../../../vm/guest/scenario.ts';
import { parseDocuments } from '../../../policy/parse.ts';
import { validatePolicy } from '../../../policy/validate.ts';
import { compile } from '../../../policy/compile.ts';
import type { Pod, PostureSet } from '../../../policy/types.ts';
import { KA_SCENARIOS, stepCommand, type KaScenario } from '../../support/kubearmor-steps.ts';
import { loadPod } from '../../../vm/guest/kit/kernel.ts';
import { KUBEARMOR_DATA } from '../../policy/kubearmor-data.ts';

export const CORPUS = join(KUBEARMOR_DATA, 'corpus');
const POSTURE: PostureSet = { file: 'audit', network: 'audit', capabilities: 'audit', process: 'audit' };

/** /readwrite, built once per boot (the guest's /tmp outlives the scenarios' own tmp dirs). */
function buildReadwrite(ctx: ScenarioContext): string {
  const out = '/tmp/ag-kubearmor-readwrite';
  if (!existsSync(out)) execFileSync('gcc', ['-static', '-O1', '-o', out, `${ctx.root}/test/support/readwrite.c`], { stdio: 'pipe' });
  return out;
}

/** The multiubuntu image's user1 and files, made from the guest's side (outside every pod). */
function multiubuntu(c: Container, rw: string): void {
  const r = c.rootfs;
  appendFileSync(`${r}/etc/passwd`, 'user1:x:1000:1000::/home/user1:/bin/bash\n');
  appendFileSync(`${r}/etc/group`, 'user1:x:1000:\n');
  appendFileSync(`${r}/etc/shadow`, 'user1:!:20000:0:99999:7:::\n');
  const files: [string, string][] = [
    ['/home/user1/secret_data1.txt', 'secret file user1\n'],
    ['/home/user1/dir1/key1.txt', 'key file 1\n'],
    ['/home/user1/otherfile.txt', 'other file\n'],
  ];
  mkdirSync(`${r}/home/user1/dir1`, { recursive: true, mode: 0o755 });
  chownSync(`${r}/home/user1`, 1000, 1000);
  chownSync(`${r}/home/user1/dir1`, 1000, 1000);
  for (const [f, text] of files) {
    writeFileSync(r + f, text, { mode: 0o644 });
    chownSync(r + f, 1000, 1000);
  }
  copyFileSync(rw, `${r}/readwrite`);
  chmodSync(`${r}/readwrite`, 0o755);
}

async function runScenario(ctx: ScenarioContext, ka: KaScenario): Promise<void> {
  const docs = parseDocuments(readFileSync(`${CORPUS}/${ka.policy}`));
  const v = validatePolicy(docs[0]?.value);
  assert.ok(v.policy, `${ka.policy}: ${JSON.stringify(v.problems)}`);
  const ns = v.policy.metadata?.namespace ?? 'default';
  const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: `${ka.container}-pod`, namespace: ns, labels: { container: ka.container } }, spec: { containers: [{ name: ka.container }] } };
  const compiled = compile(pod, null, [v.policy], { defaultPosture: POSTURE });
  assert.ok(compiled.ok, JSON.stringify(compiled));
  const profile = compiled.value.profile;
  assert.ok(profile, 'the policy selects the pod');
  const loaded = await loadPod(ctx, profile, { containers: [ka.container] });
  const rw = buildReadwrite(ctx);
  const c = await ctx.container({ pod: { uid: loaded.uid } });
  const ctl = await ctx.container({});
  multiubuntu(c, rw);
  multiubuntu(ctl, rw);
  const wrong: string[] = [];
  for (const [i, step] of ka.steps.entries()) {
    const cmd = stepCommand(step);
    const before = loaded.mine().length;
    const r = await c.exec(['bash', '-c', cmd], { timeoutMs: 60_000 });
    await new Promise((res) => setTimeout(res, 300));
    const events = loaded.mine().slice(before).filter((e) => e.target === step.file);
    const got = r.code === 0 ? 'passed' : 'failed';
    ctx.log(`${ka.name} cmd${i + 1} ${cmd}: exit ${r.code} (${got}), want ${step.expect}; alerts ${events.map((e) => `${e.action}${e.denied ? ' denied' : ''}${e.rule ? '' : ' posture'}`).join(', ') || 'none'}`);
    if (step.expect === 'failed') {
      if (r.code === 0) wrong.push(`cmd${i + 1} ${cmd}: passed, want failed`);
      else if (!events.some((e) => e.denied && e.action === 'Block' && e.rule !== null)) wrong.push(`cmd${i + 1} ${cmd}: refused without a Block alert for ${step.file} (${r.stdout}${r.stderr})`);
    } else {
      if (r.code !== 0) wrong.push(`cmd${i + 1} ${cmd}: exit ${r.code}, want ${step.expect}: ${r.stdout}${r.stderr}`);
      const posture = events.some((e) => e.rule === null && e.action === 'Audit');
      if (step.expect === 'default' && !posture) wrong.push(`cmd${i + 1} ${cmd}: no posture alert for ${step.file}`);
      if (step.expect === 'passed' && posture) wrong.push(`cmd${i + 1} ${cmd}: a posture alert, want a rule's allow`);
    }
    const control = await ctl.exec(['bash', '-c', cmd], { timeoutMs: 60_000 });
    if (control.code !== 0) wrong.push(`control: cmd${i + 1} ${cmd}: exit ${control.code}: ${control.stderr}`);
  }
  ctx.emit('kubearmor-steps', { scenario: ka.name, steps: ka.steps.length, wrong: wrong.length });
  assert.deepEqual(wrong, []);
}

for (const ka of KA_SCENARIOS) {
  if (ka.todo) continue; // listed as todo by the host test file
  scenario(`kubearmor ${ka.name} (${ka.policy.replace(/^.*__/, '').replace(/\.yaml$/, '')}): ${ka.steps.length} steps as root and as user1`, (ctx) => runScenario(ctx, ka), { timeoutMs: 240_000 });
}
