// Renders manifests/ with a given kubectl, as an installer would: a copy of the folder with a
// signing.key file made beside the kustomization (the real one is never committed).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from './kubectl.ts';

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
};

export const MANIFESTS = join(ROOT, 'manifests');
export const TEST_SIGNING_KEY = '6172-6d6f-7267-6174-652d-7465-7374-2d6b-6579-2d6f-6e6c-79';

/** Every document of a YAML stream, as plain objects; throws on a YAML error. */
export function parseObjects(text: string, origin: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`${origin}: ${doc.errors[0]?.message}`);
    const v: unknown = doc.toJS();
    if (v === null || v === undefined) continue;
    out.push(v as K8sObject);
  }
  return out;
}

/** `kubectl kustomize` of a copy of manifests/ with a test signing key; the objects it prints. */
export function render(kubectl: string): { objects: K8sObject[]; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'armorgate-manifests-'));
  try {
    cpSync(MANIFESTS, join(dir, 'manifests'), { recursive: true, filter: (src) => !src.endsWith('signing.key') });
    writeFileSync(join(dir, 'manifests', 'signing.key'), TEST_SIGNING_KEY + '\n');
    const r = spawnSync(kubectl, ['kustomize', join(dir, 'manifests')], { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`kubectl kustomize exited ${r.status}: ${r.stderr}`);
    return { objects: parseObjects(r.stdout, `${kubectl} kustomize`), stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function objectKey(o: K8sObject): string {
  return `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? '-'}/${o.metadata.name}`;
}
