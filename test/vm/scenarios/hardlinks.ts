// Guest suite: hard links and symlinks of files and programs rules name by path, in real containers. The
// enforcer's link search (enforcer/hardlinks.ts, run as the reconciler runs it when a pod's
// containers or profile change) gives the kernel the same rule on every other name of the file:
// links made before the policy, on the container's upper layer and in its image (the overlay's
// lower layer), inside and outside the pod. A link made in the pod after the policy is refused
// (making a name for a protected file changes it). On overlayfs, a copy-up through the other
// name makes it a file of its own. Control: the same commands in a container outside every pod
// succeed.
import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, copyFileSync, linkSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { scenario, type Container } from '../../../vm/guest/scenario.ts';
import { podProfileWithLinks } from '../../../enforcer/hardlinks.ts';
import { EPERM_RE, loadPod, profile, rule, type LoadedPod } from '../../../vm/guest/kit/kernel.ts';

function layOut(c: Container): void {
  mkdirSync(`${c.rootfs}/srv/secret`, { recursive: true });
  writeFileSync(`${c.rootfs}/srv/secret/key`, 'key\n');
  // made before the policy applies: a hard link elsewhere in the container, and a symlink
  linkSync(`${c.rootfs}/srv/secret/key`, `${c.rootfs}/tmp/early`);
  symlinkSync('/srv/secret/key', `${c.rootfs}/tmp/sym`);
  // a program with a second name made before the policy
  mkdirSync(`${c.rootfs}/srv/bin`, { recursive: true });
  copyFileSync('/usr/bin/true', `${c.rootfs}/srv/bin/tool`);
  chmodSync(`${c.rootfs}/srv/bin/tool`, 0o755);
  linkSync(`${c.rootfs}/srv/bin/tool`, `${c.rootfs}/tmp/tool2`);
}

async function code(c: Container, cmd: string): Promise<{ code: number; err: string }> {
  const r = await c.exec(['/bin/sh', '-c', cmd], { timeoutMs: 60_000 });
  return { code: r.code ?? -1, err: r.stderr };
}

/** The pod's profile put in force as the enforcer does: the verified one plus the linked names. */
function applyWithLinks(pod: LoadedPod, c: Container, p: ReturnType<typeof profile>): number {
  const r = podProfileWithLinks(p, [{ name: 'main', cgroupPath: c.cgroup.path }]);
  assert.deepEqual(r.truncated, []);
  // the container's cgroup told, as the reconciler tells it (the linked names' rules are the container's)
  const set = pod.kernel.setPod({ uid: pod.uid, namespace: 'test', name: 'pod', profile: r.profile, containers: [{ name: 'main', cgroupId: c.cgroup.id }] });
  assert.ok(set.ok, set.ok ? '' : set.error.message);
  return r.aliases;
}

scenario('hard links: early links (upper layer, image layer), late links inside and outside the pod, symlinks', async (ctx) => {
  const p = profile({
    file: [
      rule('Block', { type: 'path', path: '/srv/secret/key' }),
      rule('Block', { type: 'path', path: '/usr/bin/perl5.36.0' }, { readOnly: true }),
    ],
    process: [rule('Block', { type: 'path', path: '/srv/bin/tool' })],
  }, { file: 'audit', process: 'audit', network: 'audit', capabilities: 'audit' });
  const pod = await loadPod(ctx, p);
  const c = await ctx.container({ pod: { uid: pod.uid } });
  const ctl = await ctx.container({});
  layOut(c);
  layOut(ctl);
  const t0 = Date.now();
  const aliases = applyWithLinks(pod, c, p);
  ctx.emit('link-search-ms', { ms: Date.now() - t0, aliases });
  assert.equal(aliases, 3, 'the early link of the key, the image\'s second name of perl, the blocked program\'s second name');

  const wrong: string[] = [];
  const expect = async (cmd: string, denied: boolean): Promise<void> => {
    const r = await code(c, cmd);
    if ((r.code !== 0) !== denied) wrong.push(`${cmd}: exit ${r.code}, want ${denied ? 'refused' : 'allowed'} ${r.err}`);
    else if (denied && !EPERM_RE.test(r.err)) wrong.push(`${cmd}: refused without EPERM: ${r.err}`);
    const k = await code(ctl, cmd);
    if (k.code !== 0) wrong.push(`control: ${cmd}: exit ${k.code} ${k.err}`);
  };
  await expect('cat /srv/secret/key', true);
  await expect('cat /tmp/early', true); // a link made before the policy (upper layer)
  await expect('cat /tmp/sym', true); // a symlink resolves to the file's own name
  await expect('perl -e 1', false); // the image's perl runs (readOnly)
  await expect('/srv/bin/tool', true); // a blocked program
  await expect('/tmp/tool2', true); // under the name it had before the policy
  await expect('echo x >> /usr/bin/perl5.36.0', true);
  await expect('echo x >> /usr/bin/perl', true); // its other name in the image (lower layer): no copy-up happens
  // late, inside the pod: making another name for a protected file is refused
  await expect('ln /srv/secret/key /tmp/late', true);
  await expect('ln /usr/bin/perl /tmp/perl2', true);
  // late, outside the pod (the node, or another container sharing the filesystem): the new name is
  // protected once the enforcer searches again (when the pod's containers or profile change)
  linkSync(`${c.rootfs}/srv/secret/key`, `${c.rootfs}/tmp/outside`);
  assert.equal(applyWithLinks(pod, c, p), 4);
  const late = await code(c, 'cat /tmp/outside');
  if (late.code === 0) wrong.push('cat /tmp/outside after the search: allowed');
  // a file that is not linked to the key is untouched
  await expect('cat /etc/hostname', false);
  // overlayfs: a write through the image's other name from outside the pod copies that name up
  // into a file of its own (no index feature): it is no longer the protected file, and the
  // search no longer reports it; the protected name stays protected
  appendFileSync(`${c.rootfs}/usr/bin/perl`, '\n');
  assert.equal(applyWithLinks(pod, c, p), 3, 'the key\'s two other names and the program\'s; perl\'s copy is a file of its own');
  const copied = await code(c, 'echo x >> /usr/bin/perl');
  if (copied.code !== 0) wrong.push(`the copied-up /usr/bin/perl: exit ${copied.code} ${copied.err}`);
  const still = await code(c, 'echo x >> /usr/bin/perl5.36.0');
  if (still.code === 0) wrong.push('/usr/bin/perl5.36.0 after the copy-up of its other name: allowed');
  const denials = pod.mine().filter((e) => e.denied && e.target === '/tmp/early');
  if (denials.length === 0) wrong.push('no Block alert names /tmp/early');
  else if (denials[0]!.rule?.policies.join() !== 'test/policy') wrong.push(`the alert's rule: ${JSON.stringify(denials[0]!.rule)}`);
  assert.deepEqual(wrong, []);
}, { timeoutMs: 240_000 });
