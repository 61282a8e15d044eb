// Re-makes the vendored schemas beside this file from the npm packages named in README.md.
// Each package ships, per type, a CommonJS file holding the type's JSON Schema as a literal
// (`const schema = {...};`) and the id it registers it under. This script reads those
// literals as data (nothing of the packages is executed), keeps only the types reachable
// from the kinds our manifests use, rewrites each `"$ref": "ID#"` to `#/definitions/ID`, and
// drops descriptions.
//
//   mkdir -p /tmp/v && cd /tmp/v && npm pack kubernetes-models@4.3.1 \
//     @kubernetes-models/apimachinery@1.2.2 @kubernetes-models/cert-manager@4.3.1
//   for f in *.tgz; do mkdir -p "${f%.tgz}" && tar -xzf "$f" -C "${f%.tgz}"; done
//   node test/manifests/schemas/vendor.ts /tmp/v/kubernetes-models-4.3.1/package \
//     /tmp/v/kubernetes-models-apimachinery-1.2.2/package /tmp/v/kubernetes-models-cert-manager-4.3.1/package
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KUBERNETES_KINDS, CERT_MANAGER_KINDS, type Kind } from './kinds.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const SCHEMA_LITERAL = /\nconst schema = (\{\}|\{[\s\S]*?\n\});\n/;
const REGISTERED_ID = /register\)\("([^"]+)", schema\)|const schemaId = "([^"]+)";/;

function* jsFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(p).isDirectory()) yield* jsFiles(p);
    else if (name.endsWith('.js')) yield p;
  }
}

/** id → schema, from every package folder given. */
export function indexPackages(dirs: readonly string[]): Map<string, Json> {
  const index = new Map<string, Json>();
  for (const dir of dirs) {
    for (const file of jsFiles(dir)) {
      const text = readFileSync(file, 'utf8');
      const lit = SCHEMA_LITERAL.exec(text);
      const id = REGISTERED_ID.exec(text);
      if (!lit || !id) continue;
      index.set((id[1] ?? id[2]) as string, JSON.parse(lit[1] as string) as Json);
    }
  }
  return index;
}

function refsOf(node: Json, out: Set<string>): void {
  if (Array.isArray(node)) node.forEach((n) => refsOf(n, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.add(v.replace(/#$/, ''));
      else refsOf(v, out);
    }
  }
}

function rewrite(node: Json): Json {
  if (Array.isArray(node)) return node.map(rewrite);
  if (node && typeof node === 'object') {
    const out: { [k: string]: Json } = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === 'description' && typeof v === 'string') continue;
      out[k] = k === '$ref' && typeof v === 'string' ? `#/definitions/${v.replace(/#$/, '')}` : rewrite(v);
    }
    return out;
  }
  return node;
}

// kubernetes-models drops every property named `description` and every `x-kubernetes-*`
// property from the types it generates, which leaves the CRD schema type (JSONSchemaProps)
// unable to describe a real CRD. These are put back as the Kubernetes API reference
// (apiextensions.k8s.io/v1, 1.27) defines them; README.md lists this correction.
const JSP = 'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps';
const RESTORED: Record<string, Record<string, Json>> = {
  [JSP]: {
    description: { type: 'string', nullable: true },
    'x-kubernetes-embedded-resource': { type: 'boolean', nullable: true },
    'x-kubernetes-int-or-string': { type: 'boolean', nullable: true },
    'x-kubernetes-list-map-keys': { type: 'array', items: { type: 'string' }, nullable: true },
    'x-kubernetes-list-type': { type: 'string', nullable: true },
    'x-kubernetes-map-type': { type: 'string', nullable: true },
    'x-kubernetes-preserve-unknown-fields': { type: 'boolean', nullable: true },
    'x-kubernetes-validations': {
      type: 'array',
      nullable: true,
      items: {
        type: 'object',
        required: ['rule'],
        properties: {
          rule: { type: 'string' },
          message: { type: 'string', nullable: true },
          messageExpression: { type: 'string', nullable: true },
          reason: { type: 'string', nullable: true },
          fieldPath: { type: 'string', nullable: true },
        },
      },
    },
  },
  'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.ExternalDocumentation': {
    description: { type: 'string', nullable: true },
  },
};

export function restoreDroppedFields(defs: Record<string, Json>): void {
  for (const [id, props] of Object.entries(RESTORED)) {
    const def = defs[id] as { properties?: Record<string, Json> } | undefined;
    if (def?.properties) Object.assign(def.properties, props);
  }
}

/** The definitions reachable from the given kinds' ids, refs rewritten, sorted by id. */
export function trim(index: Map<string, Json>, kinds: readonly Kind[]): Record<string, Json> {
  const seen = new Set<string>();
  const todo = kinds.map((k) => k.id);
  while (todo.length) {
    const id = todo.pop() as string;
    if (seen.has(id)) continue;
    const schema = index.get(id);
    if (schema === undefined) throw new Error(`vendor: no schema registered as ${id}`);
    seen.add(id);
    const refs = new Set<string>();
    refsOf(schema, refs);
    todo.push(...refs);
  }
  const defs: Record<string, Json> = {};
  for (const id of [...seen].sort()) defs[id] = rewrite(index.get(id) as Json);
  return defs;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [k8sDir, apimachineryDir, certManagerDir] = process.argv.slice(2);
  if (!k8sDir || !apimachineryDir || !certManagerDir) {
    process.stderr.write('usage: vendor.ts KUBERNETES_MODELS_DIR APIMACHINERY_DIR CERT_MANAGER_DIR\n');
    process.exit(2);
  }
  const here = dirname(fileURLToPath(import.meta.url));
  const k8s = trim(indexPackages([k8sDir, apimachineryDir]), KUBERNETES_KINDS);
  restoreDroppedFields(k8s);
  writeFileSync(join(here, 'kubernetes-1.27.1.json'), JSON.stringify({ definitions: k8s }) + '\n');
  const cm = indexPackages([certManagerDir, apimachineryDir]);
  writeFileSync(join(here, 'cert-manager.json'), JSON.stringify({ definitions: trim(cm, CERT_MANAGER_KINDS) }) + '\n');
}
