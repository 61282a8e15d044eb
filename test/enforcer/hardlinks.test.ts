// Hard links: the other names of a file a rule names by path, found under a container root (a
// real directory tree here, with links made by link(2)), and the kernel profile they give.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { containerRoot, findLinkAliases, nodeLinkFs, podProfileWithLinks, profileWithAliases, type LinkFs } from '../../enforcer/hardlinks.ts';
import type { Profile, ProfileRule, Target } from '../../policy/types.ts';

function rule(target: Target, extra: Partial<ProfileRule> = {}): ProfileRule {
  return { action: 'Block', target, readOnly: false, ownerOnly: false, fromSource: '', containers: [], policies: ['ns/p'], severity: 1, tags: [], message: '', ...extra };
}
const profile = (file: ProfileRule[]): Profile => ({ version: 1, posture: { file: 'audit', network: 'audit', capabilities: 'audit', process: 'audit' }, process: [], file, network: [], capabilities: [] });

function tree(): string {
  const root = mkdtempSync(`${tmpdir()}/ag-links-`);
  mkdirSync(`${root}/etc`, { recursive: true });
  mkdirSync(`${root}/tmp/deep/er`, { recursive: true });
  writeFileSync(`${root}/etc/shadow`, 'secret\n');
  linkSync(`${root}/etc/shadow`, `${root}/tmp/deep/er/copy`);
  linkSync(`${root}/etc/shadow`, `${root}/tmp/s2`);
  writeFileSync(`${root}/etc/hosts`, 'x\n');
  symlinkSync('/etc/shadow', `${root}/tmp/sym`);
  return root;
}

test('every other name of a linked file a path rule names is found, and gets the rule in that container only', (t) => {
  const root = tree();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const shadow = rule({ type: 'path', path: '/etc/shadow' }, { readOnly: true, ownerOnly: true });
  const hosts = rule({ type: 'path', path: '/etc/hosts' });
  const dir = rule({ type: 'directory', dir: '/etc/', recursive: true });
  const scan = findLinkAliases(root, [shadow, hosts, dir]);
  assert.deepEqual(scan.aliases.map((a) => a.path), ['/tmp/deep/er/copy', '/tmp/s2']);
  assert.ok(scan.aliases.every((a) => a.rule === shadow));
  assert.equal(scan.truncated, false);
  const p = profileWithAliases(profile([shadow, hosts, dir]), [{ container: 'web', aliases: scan.aliases }]);
  assert.deepEqual(p.file.slice(3).map((r) => [r.target, r.containers, r.readOnly, r.ownerOnly, r.action]), [
    [{ type: 'path', path: '/tmp/deep/er/copy' }, ['web'], true, true, 'Block'],
    [{ type: 'path', path: '/tmp/s2' }, ['web'], true, true, 'Block'],
  ]);
  // a rule limited to another container gives that container nothing
  const other = profileWithAliases(profile([{ ...shadow, containers: ['side'] }]), [{ container: 'web', aliases: findLinkAliases(root, [{ ...shadow, containers: ['side'] }]).aliases }]);
  assert.equal(other.file.length, 1);
});

test('a program a process rule names keeps the rule, as a process rule, under its other names', (t) => {
  const root = tree();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(`${root}/usr/bin`, { recursive: true });
  writeFileSync(`${root}/usr/bin/perl5.36.0`, '#!\n');
  linkSync(`${root}/usr/bin/perl5.36.0`, `${root}/usr/bin/perl`);
  const perl = rule({ type: 'path', path: '/usr/bin/perl5.36.0' });
  const shadow = rule({ type: 'path', path: '/etc/shadow' });
  const p0: Profile = { ...profile([shadow]), process: [perl] };
  const r = podProfileWithLinks(p0, [{ name: 'web', cgroupPath: '/cg/web' }], { root: () => root });
  assert.deepEqual(r.profile.process.map((x) => [x.target, x.containers]), [
    [{ type: 'path', path: '/usr/bin/perl5.36.0' }, []],
    [{ type: 'path', path: '/usr/bin/perl' }, ['web']],
  ]);
  assert.deepEqual(r.profile.file.slice(1).map((x) => x.target), [{ type: 'path', path: '/tmp/deep/er/copy' }, { type: 'path', path: '/tmp/s2' }],
    'the file rule gets its names as file rules');
  assert.equal(r.aliases, 3);
});

test('files with one link cost one lstat and no walk; a walk past its bound says so', (t) => {
  const root = tree();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  let readdirs = 0;
  const counting: LinkFs = { lstat: nodeLinkFs.lstat, readdir: (p) => { readdirs++; return nodeLinkFs.readdir(p); } };
  const scan = findLinkAliases(root, [rule({ type: 'path', path: '/etc/hosts' }), rule({ type: 'path', path: '/etc/missing' })], { fs: counting });
  assert.deepEqual(scan, { aliases: [], truncated: false, scanned: 0 });
  assert.equal(readdirs, 0);
  const bounded = findLinkAliases(root, [rule({ type: 'path', path: '/etc/shadow' })], { maxEntries: 2 });
  assert.equal(bounded.truncated, true);
});

test('a profile without aliases is the same object', () => {
  const p = profile([rule({ type: 'path', path: '/x' })]);
  assert.equal(profileWithAliases(p, [{ container: 'a', aliases: [] }]), p);
});

test('per pod: each container with a cgroup is searched through its root; a root out of reach is reported', (t) => {
  const root = tree();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const p = profile([rule({ type: 'path', path: '/etc/shadow' })]);
  const r = podProfileWithLinks(p, [{ name: 'web', cgroupPath: '/cg/web' }, { name: 'side', cgroupPath: '/cg/side' }, { name: 'init' }], {
    root: (cg) => (cg === '/cg/web' ? root : '/nonexistent/proc/1/root'),
  });
  assert.deepEqual(r.unreachable, ['side']);
  assert.equal(r.aliases, 2);
  assert.deepEqual(r.profile.file.slice(1).map((x) => x.containers), [['web'], ['web']]);
  assert.equal(containerRoot('/cg/x', () => '\n4242\n17\n'), '/proc/4242/root');
  assert.equal(containerRoot('/cg/x', () => ''), null);
});
