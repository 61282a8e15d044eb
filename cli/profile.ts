// `armorgate profile`: what the mutating webhook would add to a pod, offline.
//   armorgate profile --pod POD.yaml --policies PATH... [--namespace NS.yaml]
//     [--default-posture file=audit,...] [--signing-key-file KEY] [--output annotations|pod]
// Prints JSON on stdout: the armorgate.io/* annotations (default), or the whole pod with
// them applied. Notes and warnings go to stderr. Exit 0 on success; 1 when a policy is
// invalid, the pod or namespace cannot be used, or the profile is refused (E_TOO_LARGE);
// 2 for a usage error or a path that cannot be read.
import { Command, Option } from 'commander';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Namespace, Pod, Policy } from '../policy/types.ts';

const POLICY_EXTENSIONS = ['.yaml', '.yml', '.json'];

class UsageError extends Error {}
class InputError extends Error {}

export function command(): Command {
  return new Command('profile')
    .description('print the armorgate.io/* annotations the webhook would add to a pod (JSON)')
    .requiredOption('--pod <file>', 'the pod manifest (YAML or JSON)')
    .requiredOption('--policies <paths...>', 'policy files, or folders searched recursively for .yaml, .yml, .json')
    .option('--namespace <file>', "the pod's Namespace manifest (postures, opt-out permission)")
    .option('--default-posture <spec>', 'postures not set by the namespace, e.g. file=audit,network=block', 'file=audit,network=audit,capabilities=audit,process=audit')
    .option('--default-visibility <kinds>', 'visibility logs when neither the pod nor the namespace has a kubearmor-visibility annotation: process,file,network,capabilities or none', 'none')
    .option('--signing-key-file <file>', 'HMAC key shared with the enforcers; without it no signature annotation')
    .addOption(new Option('--output <what>', 'annotations, or the whole pod with them applied').choices(['annotations', 'pod']).default('annotations'))
    .action(async (o: { pod: string; policies: string[]; namespace?: string; defaultPosture: string; defaultVisibility: string; signingKeyFile?: string; output: 'annotations' | 'pod' }) => {
      try {
        process.exitCode = await run(o);
      } catch (e) {
        process.stderr.write(`armorgate profile: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = e instanceof UsageError ? 2 : 1;
      }
    });
}

async function run(o: { pod: string; policies: string[]; namespace?: string; defaultPosture: string; defaultVisibility: string; signingKeyFile?: string; output: 'annotations' | 'pod' }): Promise<number> {
  const { parseDocuments } = await import('../policy/parse.ts');
  const { isPolicyDocument, validatePolicy } = await import('../policy/validate.ts');
  const { parsePostureSpec } = await import('../policy/posture.ts');
  const { signingKeyFromBytes } = await import('../policy/sign.ts');
  const { compile } = await import('../policy/compile.ts');
  const { ANNOTATION_PREFIX } = await import('../policy/annotations.ts');
  const say = (line: string): void => { process.stderr.write(line + '\n'); };

  const posture = parsePostureSpec(o.defaultPosture);
  if (!posture.ok) throw new UsageError(`--default-posture: ${posture.error.message}`);
  const { parseVisibility } = await import('../policy/visibility.ts');
  const visibility = parseVisibility(o.defaultVisibility);
  if (visibility.ignored.length > 0) throw new UsageError(`--default-visibility: '${visibility.ignored.join(',')}' is not process, file, network, capabilities or none`);

  let signingKey: Uint8Array | null = null;
  if (o.signingKeyFile !== undefined) {
    const key = signingKeyFromBytes(readBytes(o.signingKeyFile));
    if (!key.ok) throw new UsageError(`--signing-key-file ${o.signingKeyFile}: ${key.error.message}`);
    signingKey = key.value;
  }

  /** The one object of `kind` in a manifest file. */
  const readObject = (file: string, kind: string): Record<string, unknown> => {
    const docs = parseDocuments(readBytes(file)).filter((d) => d.error !== undefined || d.value !== null);
    for (const d of docs) if (d.error !== undefined) throw new InputError(`${file}#${d.index}: ${d.error.message}`);
    const found = docs.filter((d) => isRecord(d.value) && d.value['kind'] === kind);
    if (found.length !== 1) throw new InputError(`${file}: expected one ${kind} object, found ${found.length}`);
    return found[0]!.value as Record<string, unknown>;
  };
  const pod = readObject(o.pod, 'Pod') as Pod;
  if (pod.metadata !== undefined && !isRecord(pod.metadata)) throw new InputError(`${o.pod}: metadata must be a mapping`);
  if (pod.metadata?.annotations !== undefined && !isRecord(pod.metadata.annotations)) throw new InputError(`${o.pod}: metadata.annotations must be a mapping`);
  const namespace = o.namespace === undefined ? null : (readObject(o.namespace, 'Namespace') as Namespace);

  const policies: Policy[] = [];
  let invalid = 0;
  for (const file of policyFiles(o.policies)) {
    for (const d of parseDocuments(readBytes(file))) {
      const at = `${file}#${d.index}`;
      if (d.error !== undefined) { say(`${at}: ${d.error.message}`); invalid++; continue; }
      if (d.value === null) continue;
      if (!isPolicyDocument(d.value)) { say(`${at}: warning: not a KubeArmor policy (kind ${JSON.stringify(isRecord(d.value) ? d.value['kind'] : undefined)}); skipped`); continue; }
      const v = validatePolicy(d.value);
      for (const p of v.problems) say(`${at}: ${p.level === 'warning' ? 'warning: ' : ''}${p.path === '' ? '' : p.path + ': '}${p.message}`);
      if (v.policy === null) invalid++;
      else policies.push(v.policy);
    }
  }
  if (invalid > 0) {
    say(`armorgate profile: ${invalid} invalid polic${invalid === 1 ? 'y' : 'ies'} (named above); no profile compiled`);
    return 1;
  }

  const r = compile(pod, namespace, policies, { defaultPosture: posture.value, defaultVisibility: visibility.kinds, signingKey });
  if (!r.ok) {
    say(`armorgate profile: ${r.error.code}: ${r.error.message}`);
    return 1;
  }
  for (const w of r.value.warnings) say(`warning: ${w}`);
  if (r.value.optedOut) say('note: the pod opted out (kubearmor-policy: disabled, allowed by its namespace): no armorgate.io/* annotation');
  else if (signingKey === null) say('note: no --signing-key-file: the armorgate.io/profile-signature annotation is left out (an enforcer will not enforce this profile)');

  let out: unknown = r.value.annotations;
  if (o.output === 'pod') {
    const annotations: Record<string, string> = {};
    for (const [k, v] of Object.entries(pod.metadata?.annotations ?? {})) if (!k.startsWith(ANNOTATION_PREFIX)) annotations[k] = String(v);
    Object.assign(annotations, r.value.annotations);
    out = { ...pod, metadata: { ...(pod.metadata ?? {}), annotations } };
  }
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  return 0;
}

function readBytes(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e))}`);
  }
}

/** The files named, and the policy files below the folders named (sorted, recursive). */
function policyFiles(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      throw new UsageError(`cannot read ${dir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && POLICY_EXTENSIONS.some((x) => e.name.endsWith(x))) out.push(p);
    }
  };
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch (e) {
      throw new UsageError(`cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    if (st.isDirectory()) walk(p);
    else out.push(p);
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
