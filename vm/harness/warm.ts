// `node vm/harness/warm.ts`: builds what a boot needs and caches (both kernels unpacked, their
// initramfs, the node_modules image, the containers' root file system) ahead of the first boot.
// scripts/test.sh runs it in the background while the tests that need no VM run, on the core they
// leave idle; a boot that comes first builds what is missing itself (builds are safe side by side:
// each writes under a name of its own and renames it whole).
import { buildInitramfs } from './initramfs.ts';
import { KERNELS, PROJECT_ROOT } from './index.ts';
import { prepareKernels, readKernel } from './kernels.ts';
import { nodeModulesImage } from './modules-image.ts';
import { containerRootfsImage } from './rootfs.ts';

export async function warmCaches(root: string, say: (line: string) => void): Promise<void> {
  const t0 = Date.now();
  await prepareKernels(root, KERNELS);
  await Promise.all([
    ...KERNELS.map(async (series) => { await buildInitramfs(root, readKernel(root, series)); }),
    nodeModulesImage(root),
    containerRootfsImage(root, say),
  ]);
  say(`VM caches ready in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

if (import.meta.main) {
  try {
    await warmCaches(PROJECT_ROOT, (l) => process.stderr.write(`vm-warm: ${l}\n`));
  } catch (e) {
    // not fatal: the first boot builds what is missing and reports its own error
    process.stderr.write(`vm-warm: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}
