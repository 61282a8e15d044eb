// Is an RBAC rule used by the code? Looks for the calls that need each (resource, verb) in
// the sources of the component bound to the role: @kubernetes/client-node API methods
// (listNamespace, listPodForAllNamespaces, patchNode, listClusterCustomObject, ...) and
// list/watch paths (ListWatch / Watch on '/api/v1/pods', '/apis/GROUP/VERSION/PLURAL').
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export type Rule = { apiGroups?: string[]; resources?: string[]; verbs?: string[]; resourceNames?: string[] };

/** The text of every .ts file under the given folders (no tests live there). */
export function sourceText(dirs: readonly string[]): string {
  const parts: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts')) parts.push(readFileSync(p, 'utf8'));
    }
  };
  dirs.forEach(walk);
  return parts.join('\n');
}

/** "pods" → "Pod", "namespaces" → "Namespace", "nodes" → "Node" (client-node method names). */
export function kindOfCoreResource(resource: string): string {
  const singular = resource.endsWith('ses') ? resource.slice(0, -2) : resource.replace(/s$/, '');
  return singular.charAt(0).toUpperCase() + singular.slice(1);
}

const WATCHES = /new (?:ListWatch|Watch)\b|\.watch\(|makeInformer\(/;

/** Where in `src` the call needing `verb` on `group/resource` is, or null when there is none. */
export function evidence(src: string, group: string, resource: string, verb: string): string | null {
  const find = (re: RegExp): string | null => re.exec(src)?.[0] ?? null;
  if (group === '') {
    const kind = kindOfCoreResource(resource);
    const path = new RegExp(`['"\`]/api/v1/${resource}(?:['"\`/?]|$)`);
    switch (verb) {
      case 'list': return find(new RegExp(`\\blist(?:Namespaced)?${kind}(?:ForAllNamespaces)?\\(`));
      case 'watch': return WATCHES.test(src) ? find(path) : null;
      case 'get': return find(new RegExp(`\\bread(?:Namespaced)?${kind}\\w*\\(`));
      case 'patch': return find(new RegExp(`\\bpatch(?:Namespaced)?${kind}\\w*\\(`));
      case 'create': case 'delete': return find(new RegExp(`\\b${verb}(?:Namespaced)?${kind}\\w*\\(`));
      case 'update': return find(new RegExp(`\\breplace(?:Namespaced)?${kind}\\w*\\(`));
      default: return null;
    }
  }
  if (group === 'coordination.k8s.io' && resource === 'leases') {
    const method = { get: 'read', create: 'create', update: 'replace' }[verb];
    return method === undefined ? null : find(new RegExp(`\\b${method}NamespacedLease\\(`));
  }
  if (resource.endsWith('/status')) {
    const base = resource.slice(0, -'/status'.length);
    if (!src.includes(group) || !new RegExp(`['"\`]${base}['"\`]|/${base}\\b`).test(src)) return null;
    return verb === 'patch' ? find(/\bpatch(?:Cluster|Namespaced)CustomObjectStatus\(/) : null;
  }
  const plural = new RegExp(`['"\`]${resource}['"\`]|/${resource}\\b`);
  if (!src.includes(group) || !plural.test(src)) return null;
  switch (verb) {
    case 'list': return find(/\blist(?:Cluster|Namespaced)CustomObject\(/);
    case 'watch': return WATCHES.test(src) ? find(/\/apis\/\$\{[^}]+\}\/\$\{[^}]+\}\/\$\{[^}]+\}|\/apis\/[\w.-]+\/v\w+\/\w+/) : null;
    case 'get': return find(/\bget(?:Cluster|Namespaced)CustomObject\(/);
    case 'patch': return find(/\bpatch(?:Cluster|Namespaced)CustomObject\w*\(/);
    default: return null;
  }
}

/** Every (group, resource, verb) of the rules that the code never calls. */
export function unusedGrants(rules: readonly Rule[], src: string): string[] {
  const out: string[] = [];
  for (const r of rules) {
    for (const g of r.apiGroups ?? []) {
      for (const res of r.resources ?? []) {
        for (const v of r.verbs ?? []) {
          if (g === '*' || res === '*' || v === '*') { out.push(`wildcard in ${JSON.stringify(r)}`); continue; }
          if (evidence(src, g, res, v) === null) out.push(`${v} ${g || 'core'}/${res}`);
        }
      }
    }
  }
  return out;
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\#]/g, '\\$&');

/** "Pod" → "pods", "Namespace" → "namespaces" (core resource of a client-node method's kind). */
export function coreResourceOfKind(kind: string): string {
  const lower = kind.charAt(0).toLowerCase() + kind.slice(1);
  return /(s|x|ch|sh)$/.test(lower) ? `${lower}es` : `${lower}s`;
}

/** What the code calls on the core API: "VERB core/RESOURCE" for each CoreV1Api method call
 *  (on a variable made by makeApiClient(CoreV1Api)) and each watch of an '/api/v1/RESOURCE' path. */
export function coreCalls(src: string): Set<string> {
  const out = new Set<string>();
  const receivers = [...src.matchAll(/([\w.#]+)\s*=\s*[\w.#]*makeApiClient\(\s*CoreV1Api\s*\)/g)].map((m) => m[1] as string);
  const verbs: Record<string, string> = { list: 'list', read: 'get', patch: 'patch', create: 'create', replace: 'update', delete: 'delete' };
  for (const r of receivers) {
    for (const m of src.matchAll(new RegExp(`${escapeRe(r)}\\.(list|read|patch|create|replace|delete)(?:Namespaced)?([A-Z][a-zA-Z]*?)(?:ForAllNamespaces|Status)?\\(`, 'g'))) {
      out.add(`${verbs[m[1] as string]} core/${coreResourceOfKind(m[2] as string)}`);
    }
  }
  if (WATCHES.test(src)) for (const m of src.matchAll(/['"`]\/api\/v1\/([a-z]+)['"`]/g)) out.add(`watch core/${m[1]}`);
  return out;
}

/** Every core call of coreCalls() that no rule grants. */
export function ungrantedCalls(rules: readonly Rule[], src: string): string[] {
  const granted = (verb: string, resource: string): boolean => rules.some((r) =>
    (r.apiGroups ?? []).includes('') && (r.resources ?? []).includes(resource) && (r.verbs ?? []).includes(verb));
  return [...coreCalls(src)].filter((c) => {
    const [verb, res] = c.split(' ') as [string, string];
    return !granted(verb, res.slice('core/'.length));
  });
}
