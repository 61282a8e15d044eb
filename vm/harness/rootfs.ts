// The root file system of the guest's containers: a small Debian (bookworm, minbase, with
// python3-minimal) made by debootstrap on the host from the host's own Debian mirror, packed as a
// read-only ext4 image (`mkfs.ext4 -d`, as modules-image.ts does for node_modules) that qemu
// attaches as another virtio disk; the guest mounts it read-only and every container gets an
// overlayfs over it (vm/guest/container.ts). Cached in .cache/vm/ by what built it (mirror, suite,
// variant, packages, this recipe's version): built once, quiet afterwards.
// Built only for boots that ask for containers (runSuite's / registerVmTests' `containers`).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cacheDir } from './kernels.ts';

const run = promisify(execFile);

export const ROOTFS_SUITE = 'bookworm';
export const ROOTFS_VARIANT = 'minbase';
export const ROOTFS_PACKAGES: readonly string[] = ['python3-minimal'];
/** Bump when the steps below change what ends up in the image. */
const RECIPE = 1;
const FALLBACK_MIRROR = 'http://deb.debian.org/debian';

/** The host's Debian mirror for the main archive (deb822 sources first, then sources.list). */
export function debianMirror(deb822 = '/etc/apt/sources.list.d/debian.sources', list = '/etc/apt/sources.list'): string {
  try {
    for (const stanza of readFileSync(deb822, 'utf8').split(/\n\s*\n/)) {
      const field = (name: string): string[] => {
        const m = new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(stanza);
        return m ? m[1]!.trim().split(/\s+/) : [];
      };
      if (!field('Suites').includes(ROOTFS_SUITE)) continue;
      const uri = field('URIs').find((u) => /^https?:\/\//.test(u));
      if (uri) return uri.replace(/\/+$/, '');
    }
  } catch { /* no deb822 file */ }
  try {
    for (const line of readFileSync(list, 'utf8').split('\n')) {
      const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(https?:\/\/\S+)\s+(\S+)/.exec(line);
      if (m && m[2] === ROOTFS_SUITE) return m[1]!.replace(/\/+$/, '');
    }
  } catch { /* no sources.list */ }
  return FALLBACK_MIRROR;
}

export interface RootfsImage {
  path: string;
  /** What it was built from (also the cache key). */
  recipe: string;
  /** ms spent building it now (0 when it came from the cache). */
  builtMs: number;
}

let building: Promise<RootfsImage> | null = null;

/** The containers' root image, built when missing (needs root, debootstrap and e2fsprogs). */
export function containerRootfsImage(root: string, onProgress: (line: string) => void = () => {}): Promise<RootfsImage> {
  building ??= build(root, onProgress).finally(() => { building = null; });
  return building;
}

async function build(root: string, progress: (line: string) => void): Promise<RootfsImage> {
  const mirror = debianMirror();
  const recipe = `debootstrap --variant=${ROOTFS_VARIANT} --include=${ROOTFS_PACKAGES.join(',')} ${ROOTFS_SUITE} ${mirror} (recipe ${RECIPE})`;
  const key = createHash('sha256').update(recipe).digest('hex').slice(0, 16);
  const dir = cacheDir(root);
  const out = join(dir, `rootfs-${ROOTFS_SUITE}-${key}.ext4`);
  if (existsSync(out)) return { path: out, recipe, builtMs: 0 };
  const t0 = Date.now();
  progress(`building the containers' root file system once: ${recipe}`);
  mkdirSync(dir, { recursive: true });
  const tree = join(dir, `rootfs-${key}.${process.pid}.tree`);
  const tmp = `${out}.${process.pid}.tmp`;
  rmSync(tree, { recursive: true, force: true });
  try {
    try {
      await run('debootstrap', [`--variant=${ROOTFS_VARIANT}`, `--include=${ROOTFS_PACKAGES.join(',')}`, ROOTFS_SUITE, tree, mirror],
        { maxBuffer: 64 << 20, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' } });
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; message: string };
      const log = existsSync(join(tree, 'debootstrap', 'debootstrap.log')) ? readFileSync(join(tree, 'debootstrap', 'debootstrap.log'), 'utf8') : '';
      throw new Error(`debootstrap failed: ${`${err.stderr ?? ''}\n${log}`.trim().split('\n').slice(-15).join('\n') || err.message}`, { cause: e });
    }
    // What a container image does not carry: apt's downloaded lists and packages.
    for (const d of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
      const p = join(tree, d);
      if (!existsSync(p)) continue;
      for (const e of readdirSync(p)) if (e !== 'partial' && e !== 'lock') rmSync(join(p, e), { recursive: true, force: true });
    }
    for (const f of readdirSync(join(tree, 'var', 'cache', 'apt')).filter((n) => n.endsWith('.bin'))) rmSync(join(tree, 'var', 'cache', 'apt', f), { force: true });
    writeFileSync(join(tree, 'etc', 'hostname'), 'container\n');
    writeFileSync(join(tree, 'etc', 'armorgate-rootfs'), `${recipe}\n`);
    const { stdout } = await run('du', ['-sb', tree]);
    const sizeMiB = Math.ceil((Number(stdout.split(/\s/)[0]) * 1.3) / (1 << 20)) + 48;
    await run('mkfs.ext4', ['-q', '-F', '-t', 'ext4', '-O', '^has_journal,^metadata_csum', '-E', 'root_owner=0:0', '-L', 'agrootfs', '-d', tree, tmp, `${sizeMiB}M`], { maxBuffer: 16 << 20 });
    // images of other recipes (never this one: another process may have just built it)
    for (const old of readdirSync(dir).filter((n) => /^rootfs-.*\.ext4$/.test(n) && join(dir, n) !== out)) rmSync(join(dir, old), { force: true });
    renameSync(tmp, out);
  } finally {
    rmSync(tree, { recursive: true, force: true });
    rmSync(tmp, { force: true });
  }
  const builtMs = Date.now() - t0;
  progress(`containers' root file system built in ${(builtMs / 1000).toFixed(0)} s: ${out}`);
  return { path: out, recipe, builtMs };
}
