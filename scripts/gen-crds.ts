// Generates manifests/crds/ from the JSON Schemas in schemas/ (the one source of truth).
//   node scripts/gen-crds.ts           write the files
//   node scripts/gen-crds.ts --check   exit 1 when the committed files differ (drift)
// The CRD schemas are structural: every $ref inlined, no additionalProperties: false (the
// API server prunes unknown fields instead), no defaults, and metadata left to the API
// server; each CRD has the status subresource.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { SCHEMAS } from '../policy/schema.ts';
import type { PolicyKind } from '../policy/types.ts';

export const CRD_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'manifests', 'crds');
const GROUP = 'security.kubearmor.com';

interface KindInfo {
  plural: string;
  singular: string;
  shortName: string;
  scope: 'Namespaced' | 'Cluster';
  selectorColumn: string;
}

const KINDS: Record<PolicyKind, KindInfo> = {
  KubeArmorPolicy: { plural: 'kubearmorpolicies', singular: 'kubearmorpolicy', shortName: 'ksp', scope: 'Namespaced', selectorColumn: '.spec.selector.matchLabels' },
  KubeArmorClusterPolicy: { plural: 'kubearmorclusterpolicies', singular: 'kubearmorclusterpolicy', shortName: 'csp', scope: 'Cluster', selectorColumn: '.spec.selector.matchExpressions' },
  KubeArmorHostPolicy: { plural: 'kubearmorhostpolicies', singular: 'kubearmorhostpolicy', shortName: 'hsp', scope: 'Cluster', selectorColumn: '.spec.nodeSelector.matchLabels' },
};

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

/** Keywords that carry no meaning for the API server or that it does not accept. */
const DROPPED = new Set(['$schema', '$id', '$defs', '$comment', 'title']);

/** The node a $ref points to, and the $defs its own local refs resolve against. */
function resolveRef(ref: string, localDefs: Obj | undefined): { node: Obj; defs: Obj | undefined } {
  const m = /^(?:(kubearmor-defs\.schema\.json))?#\/\$defs\/([A-Za-z0-9_]+)$/.exec(ref);
  if (!m) throw new Error(`gen-crds: unsupported $ref ${ref}`);
  const defs = (m[1] ? (SCHEMAS.defs as unknown as Obj).$defs : localDefs) as Obj | undefined;
  const target = defs?.[m[2] as string];
  if (target === undefined || target === null || typeof target !== 'object' || Array.isArray(target)) throw new Error(`gen-crds: $ref ${ref} not found`);
  return { node: target, defs };
}

/** The structural form of a JSON Schema node. */
export function structural(node: Obj, localDefs?: Obj): Obj {
  let src = node;
  if (typeof src.$ref === 'string') {
    // Keywords beside the $ref (a description, say) override the target's.
    const { $ref, ...rest } = src;
    const target = resolveRef($ref as string, localDefs);
    src = { ...target.node, ...rest };
    localDefs = target.defs;
  }
  const out: Obj = {};
  for (const [k, v] of Object.entries(src)) {
    if (DROPPED.has(k)) continue;
    if (k === 'additionalProperties' && v === false) continue;
    if (k === 'const') { out.enum = [v]; continue; }
    if (k === 'properties') {
      const props: Obj = {};
      for (const [name, sub] of Object.entries(v as Obj)) props[name] = structural(sub as Obj, localDefs);
      out.properties = props;
    } else if ((k === 'items' || k === 'additionalProperties') && typeof v === 'object' && v !== null) {
      out[k] = structural(v as Obj, localDefs);
    } else {
      out[k] = v;
    }
  }
  return out;
}

/** The openAPIV3Schema of one policy kind. */
export function crdSchema(kind: PolicyKind): Obj {
  const schema = SCHEMAS[kind] as unknown as Obj;
  const root = structural(schema, (schema.$defs as Obj | undefined) ?? undefined);
  const props = root.properties as Obj;
  // The API server owns apiVersion, kind and metadata: only their type is stated.
  props.apiVersion = { type: 'string' };
  props.kind = { type: 'string' };
  props.metadata = { type: 'object' };
  // The API server itself requires them; the CRD's root states no requirement.
  delete root.required;
  return root;
}

export function crd(kind: PolicyKind): Obj {
  const k = KINDS[kind];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${k.plural}.${GROUP}`, labels: { 'app.kubernetes.io/part-of': 'armorgate' } },
    spec: {
      group: GROUP,
      names: { kind, listKind: `${kind}List`, plural: k.plural, singular: k.singular, shortNames: [k.shortName] },
      scope: k.scope,
      versions: [{
        name: 'v1',
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          { name: 'Action', type: 'string', priority: 10, jsonPath: '.spec.action' },
          { name: 'Selector', type: 'string', priority: 10, jsonPath: k.selectorColumn },
        ],
        schema: { openAPIV3Schema: crdSchema(kind) },
      }],
    },
  };
}

const HEADER = '# Generated by scripts/gen-crds.ts from schemas/ (npm run gen:crds). Do not edit.\n';

/** Every file of manifests/crds/, by name, as the generator writes it. */
export function renderCrds(): Map<string, string> {
  const files = new Map<string, string>();
  const names: string[] = [];
  for (const kind of Object.keys(KINDS) as PolicyKind[]) {
    const name = `${GROUP}_${KINDS[kind].plural}.yaml`;
    names.push(name);
    files.set(name, HEADER + stringify(crd(kind), { lineWidth: 0 }));
  }
  files.set('kustomization.yaml', HEADER + stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: names }));
  return files;
}

function main(argv: string[]): number {
  const check = argv.includes('--check');
  let drift = 0;
  if (!check) mkdirSync(CRD_DIR, { recursive: true });
  for (const [name, text] of renderCrds()) {
    const path = join(CRD_DIR, name);
    if (check) {
      let current = '';
      try { current = readFileSync(path, 'utf8'); } catch { /* missing counts as drift */ }
      if (current !== text) { drift++; process.stderr.write(`drift: manifests/crds/${name} differs from what schemas/ generate (run npm run gen:crds)\n`); }
    } else {
      writeFileSync(path, text);
      process.stdout.write(`wrote manifests/crds/${name}\n`);
    }
  }
  return drift === 0 ? 0 : 1;
}

if (import.meta.main) process.exitCode = main(process.argv.slice(2));
