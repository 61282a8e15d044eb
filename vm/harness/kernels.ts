// The test kernels: fetched and unpacked by scripts/vm-prepare.sh into .cache/vm/, described by
// .cache/vm/kernel-<series>.env; here we read that, and work out which modules the initramfs must
// load (and in which order) from each module's own `depends=` (modinfo), skipping built-ins.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KernelSeries } from '../guest/protocol.ts';

const run = promisify(execFile);

export interface Kernel {
  series: KernelSeries;
  package: string;
  release: string;
  image: string;
  /** .../lib/modules/<release> of the unpacked tree. */
  modules: string;
  /** The unpacked tree (its lib/modules/<release> is `modules`). */
  tree: string;
}

export function cacheDir(root: string): string {
  return join(root, '.cache', 'vm');
}

/** Runs scripts/vm-prepare.sh (idempotent; quiet when done) for the given series. */
export async function prepareKernels(root: string, series: readonly KernelSeries[]): Promise<void> {
  try {
    await run('bash', [join(root, 'scripts', 'vm-prepare.sh'), ...series], { maxBuffer: 64 << 20 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`scripts/vm-prepare.sh failed: ${(err.stderr ?? '').trim().split('\n').slice(-15).join('\n') || err.message}`, { cause: e });
  }
}

export function readKernel(root: string, series: KernelSeries): Kernel {
  const envFile = join(cacheDir(root), `kernel-${series}.env`);
  const vars: Record<string, string> = {};
  for (const line of readFileSync(envFile, 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) vars[m[1] as string] = m[2] as string;
  }
  const need = ['KERNEL_PACKAGE', 'KERNEL_RELEASE', 'KERNEL_IMAGE', 'KERNEL_MODULES'];
  for (const k of need) if (!vars[k]) throw new Error(`${envFile}: ${k} missing`);
  const modules = vars.KERNEL_MODULES as string;
  const tree = modules.replace(/\/(usr\/)?lib\/modules\/[^/]+$/, '');
  const kernel: Kernel = {
    series, package: vars.KERNEL_PACKAGE as string, release: vars.KERNEL_RELEASE as string,
    image: vars.KERNEL_IMAGE as string, modules, tree,
  };
  if (!existsSync(kernel.image)) throw new Error(`${envFile}: kernel image ${kernel.image} does not exist`);
  return kernel;
}

/** Module name as the kernel knows it: '-' and '_' are the same. */
function canon(name: string): string {
  return name.replace(/-/g, '_');
}

/** name → file of every module in the tree. */
function indexModules(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const m = /^(.*)\.ko(\.xz|\.zst|\.gz)?$/.exec(e.name);
        if (m) out.set(canon(m[1] as string), p);
      }
    }
  };
  walk(join(dir, 'kernel'));
  return out;
}

function builtins(dir: string): Set<string> {
  const out = new Set<string>();
  const f = join(dir, 'modules.builtin');
  if (!existsSync(f)) return out;
  for (const line of readFileSync(f, 'utf8').split('\n')) {
    const m = /([^/]+)\.ko$/.exec(line.trim());
    if (m) out.add(canon(m[1] as string));
  }
  return out;
}

export interface ModuleFile { name: string; file: string }

/**
 * The loadable modules needed for `wanted` (dependencies first), each dependency read from
 * the module's own `depends=` field; built-in modules are skipped, a missing one is an error.
 */
export async function moduleLoadOrder(kernel: Kernel, wanted: readonly string[]): Promise<ModuleFile[]> {
  const index = indexModules(kernel.modules);
  const builtin = builtins(kernel.modules);
  const order: ModuleFile[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = async (raw: string, from: string): Promise<void> => {
    const name = canon(raw);
    if (builtin.has(name) || state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new Error(`module dependency cycle at ${name}`);
    const file = index.get(name);
    if (!file) throw new Error(`module ${name} (${from}) is neither built into ${kernel.release} nor in ${kernel.modules}`);
    state.set(name, 'visiting');
    const { stdout } = await run('modinfo', ['-F', 'depends', file]);
    for (const dep of stdout.trim().split(',').filter(Boolean)) await visit(dep, `needed by ${name}`);
    state.set(name, 'done');
    order.push({ name, file });
  };
  for (const w of wanted) await visit(w, 'wanted');
  return order;
}
