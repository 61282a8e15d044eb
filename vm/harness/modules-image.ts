// node_modules as a read-only ext4 image on a virtio disk. Over 9p under TCG every file costs tens
// of milliseconds (lookup, open, read, clunk through the emulated guest and qemu's 9p server), and
// a daemon importing the OpenTelemetry SDK, express and @kubernetes/client-node touches thousands
// of files: minutes. From a block device the guest's own page cache serves them. The guest mounts
// the image over <root>/node_modules (init.sh), so every path stays what it is on the host.
// Built with `mkfs.ext4 -d` (no mount, no root needed; no journal and no metadata checksums, so the
// guest needs no crc32c driver), cached by the lockfile's hash.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cacheDir } from './kernels.ts';

const run = promisify(execFile);

/** The image of root/node_modules, (re)built when the lockfile changed; null when there is no node_modules. */
export async function nodeModulesImage(root: string): Promise<string | null> {
  if (!existsSync(join(root, 'node_modules'))) return null;
  // a worktree may have node_modules as a symlink: du and mkfs must see the folder itself
  const dir = realpathSync(join(root, 'node_modules'));
  const h = createHash('sha256');
  for (const f of ['package-lock.json', join('node_modules', '.package-lock.json')]) {
    if (existsSync(join(root, f))) h.update(readFileSync(join(root, f)));
  }
  for (const e of readdirSync(dir).sort()) h.update(`${e}:${statSync(join(dir, e)).mtimeMs}\n`);
  const out = join(cacheDir(root), `node_modules-${h.digest('hex').slice(0, 16)}.ext4`);
  if (existsSync(out)) return out;
  // boots side by side in one process ask at once: one build, every caller gets it
  const pending = building.get(out);
  if (pending !== undefined) return pending;
  const p = buildImage(root, dir, out).finally(() => { building.delete(out); });
  building.set(out, p);
  return p;
}

const building = new Map<string, Promise<string>>();

async function buildImage(root: string, dir: string, out: string): Promise<string> {
  // images of other lockfiles (never this one: another process may have just built it)
  for (const old of readdirSync(cacheDir(root)).filter((n) => /^node_modules-.*\.ext4$/.test(n) && join(cacheDir(root), n) !== out)) {
    rmSync(join(cacheDir(root), old), { force: true });
  }
  const { stdout } = await run('du', ['-sb', dir]);
  const bytes = Number(stdout.split(/\s/)[0]);
  const sizeMiB = Math.ceil((bytes * 1.4) / (1 << 20)) + 64;
  // another process may build the same image: a temporary name of this build's own, renamed whole
  const tmp = `${out}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await run('mkfs.ext4', ['-q', '-F', '-t', 'ext4', '-O', '^has_journal,^metadata_csum', '-E', 'root_owner=0:0', '-L', 'agnodemod', '-d', dir, tmp, `${sizeMiB}M`], { maxBuffer: 16 << 20 });
    renameSync(tmp, out);
  } finally {
    rmSync(tmp, { force: true });
  }
  return out;
}
