// Guest suite: the container runtime must be able to start and enter a container whose pod's
// allow-lists (process and file, block posture) are in force before the container starts, as on a
// node where the enforcer learned the pod from the API first; and what the runtime does on its way
// in must not open a door for the workload. Each has its control.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { scenario } from '../../../vm/guest/scenario.ts';
import { loadPod, profile, rule } from '../../../vm/guest/kit/kernel.ts';

/** A pod whose programs may only be python, and whose files are an allow-list of the system's
 *  folders (block posture): a strict but workable profile. */
function strict() {
  const dirs = ['/usr/', '/etc/', '/proc/', '/dev/', '/tmp/', '/sys/', '/run/', '/var/'];
  return profile({
    process: [rule('Allow', { type: 'path', path: '/usr/bin/python3.11' })],
    file: dirs.map((dir) => rule('Allow', { type: 'directory', dir, recursive: true })),
  }, { process: 'block', file: 'block' });
}

scenario('runtime: a container starts and runc exec enters it under process and file allow-lists in force before the start', async (ctx) => {
  const uid = randomUUID();
  const pod = await loadPod(ctx, strict(), { uid, containers: ['main'] });
  const argv = ['/usr/bin/python3', '-c', 'import time\nwhile True: time.sleep(1)'];
  const c = await ctx.container({ pod: { uid }, driver: 'systemd', argv, files: { '/srv/data.txt': 'x' } });
  const ok = await c.exec(['/usr/bin/python3', '-c', 'print(open("/etc/hostname").read() != "")']);
  assert.equal(ok.code, 0, `runc exec of an allowed program: ${ok.stderr}`);
  assert.equal(ok.stdout.trim(), 'True');
  // the allow-lists hold for the workload; the control: the same in a container outside pods works
  const probe = ['/usr/bin/python3', '-c', [
    'import os',
    'def t(fn):',
    '  try: fn(); return "ok"',
    '  except OSError as e: return str(e.errno)',
    'def run():',
    '  pid = os.fork()',
    '  if pid == 0:',
    '    try: os.execv("/usr/bin/true", ["true"])',
    '    except OSError as e: os._exit(e.errno)',
    '  c = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])',
    '  if c: raise OSError(c, "exec")',
    'print(t(run), t(lambda: open("/srv/data.txt").read()))',
  ].join('\n')];
  const control = await ctx.container({ argv, files: { '/srv/data.txt': 'x' } });
  const free = await control.exec(probe);
  assert.equal(free.stdout.trim(), 'ok ok', `control: ${free.stderr}`);
  const denied = await c.exec(probe);
  assert.equal(denied.stdout.trim(), '1 1', `in the pod: ${denied.stderr}`);
  const e = await pod.waitEvent((x) => x.hook === 'exec' && x.denied);
  ctx.log(`denied: ${e.target}`);
  const direct = await c.exec(['/bin/true']);
  assert.notEqual(direct.code, 0, 'runc exec of a program the allow-list leaves out fails');
});
