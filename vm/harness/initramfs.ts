// The initramfs of one kernel: static busybox, vm/guest/init.sh as /init, and the modules that
// mounting the 9p share needs (decompressed, with /modules/order listing them dependencies first).
// Built with cpio (newc) into .cache/vm/, cached by a hash of everything that goes in, and written
// atomically so that concurrent test processes never see half a file.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cacheDir, moduleLoadOrder, type Kernel, type ModuleFile } from './kernels.ts';

const run = promisify(execFile);

/** Modules the guest needs for its root: the virtio PCI transport, 9p over virtio, the 9p fs;
 *  and virtio-blk + ext4 for the node_modules image (modules-image.ts), with crc32c_generic, which
 *  ext4 needs through its softdep on the crypto-crc32c alias (not in its depends=). */
export const ROOT_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'virtio_blk', 'crc32c_generic', 'ext4'] as const;
const BUSYBOX = '/bin/busybox';

const building = new Map<string, Promise<string>>();

export async function buildInitramfs(root: string, kernel: Kernel): Promise<string> {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing (Debian package busybox-static; scripts/vm-prepare.sh installs it)`);
  const initScript = readFileSync(join(root, 'vm', 'guest', 'init.sh'));
  const modules = await moduleLoadOrder(kernel, ROOT_MODULES);
  const h = createHash('sha256');
  h.update(kernel.release).update('\0').update(initScript);
  const bb = statSync(BUSYBOX);
  h.update(`\0${bb.size}:${bb.mtimeMs}`);
  for (const m of modules) h.update(`\0${m.name}:${statSync(m.file).size}`);
  const out = join(cacheDir(root), `initramfs-${kernel.series}-${h.digest('hex').slice(0, 16)}.cpio`);
  if (existsSync(out)) return out;
  // boots side by side in one process ask at once: one build, every caller gets it
  const pending = building.get(out);
  if (pending !== undefined) return pending;
  const p = writeInitramfs(root, out, initScript, modules).finally(() => { building.delete(out); });
  building.set(out, p);
  return p;
}

async function writeInitramfs(root: string, out: string, initScript: Buffer, modules: readonly ModuleFile[]): Promise<string> {
  const stage = join(cacheDir(root), `initramfs-build-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(join(stage, 'bin'), { recursive: true });
    mkdirSync(join(stage, 'modules'));
    copyFileSync(BUSYBOX, join(stage, 'bin', 'busybox'));
    chmodSync(join(stage, 'bin', 'busybox'), 0o755);
    writeFileSync(join(stage, 'init'), initScript, { mode: 0o755 });
    for (const m of modules) {
      const dest = join(stage, 'modules', `${m.name}.ko`);
      if (m.file.endsWith('.ko')) copyFileSync(m.file, dest);
      else if (m.file.endsWith('.xz')) await run('sh', ['-c', 'xz -dc "$0" > "$1"', m.file, dest]);
      else if (m.file.endsWith('.zst')) await run('sh', ['-c', 'zstd -dc "$0" > "$1"', m.file, dest]);
      else await run('sh', ['-c', 'gzip -dc "$0" > "$1"', m.file, dest]);
    }
    writeFileSync(join(stage, 'modules', 'order'), modules.map((m) => m.name).join('\n') + '\n');
    const tmp = `${out}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await run('sh', ['-c', 'cd "$0" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet > "$1"', stage, tmp]);
    renameSync(tmp, out);
    return out;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}
