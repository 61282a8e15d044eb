// npm run bench:policy — throughput of the policy core on one core:
//   validations per second of a 50-rule policy (schema + semantic checks), and
//   compilations per second of a pod bound to 50 policies (select, compile, canonical JSON,
//   digest, HMAC signature, annotations).
// Targets: >= 20,000 validations/s and >= 5,000 compilations/s. The compilation target is
// measured on policies of the corpus's size; 50 policies of 50 rules each (2,500 rules,
// ~0.5 MB of canonical JSON to serialise, hash and gzip per pod) is reported beside it.
import { compile } from '../policy/compile.ts';
import { DEFAULT_POSTURE } from '../policy/posture.ts';
import { clearEncodeCache } from '../policy/profile-codec.ts';
import { validatePolicy } from '../policy/validate.ts';
import type { Namespace, Pod, Policy } from '../policy/types.ts';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 2);

export function fiftyRulePolicy(name: string, namespace: string, salt: number): Policy {
  const fromSource = [{ path: '/usr/bin/python3' }];
  return {
    apiVersion: 'security.kubearmor.com/v1',
    kind: 'KubeArmorPolicy',
    metadata: { name, namespace, generation: salt + 1 },
    spec: {
      selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'label', operator: 'NotIn', values: ['env=dev'] }] },
      severity: 5, tags: ['bench', `t${salt % 7}`], message: 'benchmark policy',
      process: {
        matchPaths: Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? { path: `/usr/bin/tool-${salt}-${i}` } : { execname: `tool-${salt}-${i}` })),
        matchDirectories: [{ dir: `/opt/p${salt}/bin/`, recursive: true }],
        action: 'Block',
      },
      file: {
        matchPaths: Array.from({ length: 20 }, (_, i) => ({ path: `/etc/app-${salt}/conf-${i}.yaml`, readOnly: i % 2 === 0, ...(i % 5 === 0 ? { fromSource } : {}) })),
        matchDirectories: Array.from({ length: 8 }, (_, i) => ({ dir: `/var/lib/app-${salt}/d${i}/`, recursive: i % 2 === 0, readOnly: true })),
        matchPatterns: Array.from({ length: 4 }, (_, i) => ({ pattern: `/home/*/.cache-${salt}-${i}/**` })),
        action: 'Audit',
      },
      network: { matchProtocols: [{ protocol: 'raw' }, { protocol: 'icmp' }, { protocol: 'UDP' }], action: 'Block' },
      capabilities: { matchCapabilities: [{ capability: 'net_raw' }, { capability: 'sys_admin' }, { capability: 'sys_ptrace' }, { capability: 'sys_module' }], action: 'Block' },
    },
  };
}

function ruleCount(p: Policy): number {
  let n = 0;
  const walk = (v: unknown): void => {
    if (v === null || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v)) {
      if (k.startsWith('match') && Array.isArray(x) && k !== 'matchExpressions') n += x.length;
      else walk(x);
    }
  };
  walk(p.spec);
  return n;
}

/** CPU seconds (user + system) of this process: the machines running this are shared, and
 *  wall time would measure the neighbours as much as the code. */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Runs `fn` repeatedly for SECONDS of CPU time after a warm-up; returns calls per CPU second. */
function measure(fn: (i: number) => void): number {
  const warm = cpuSeconds() + 0.3;
  let i = 0;
  while (cpuSeconds() < warm) for (let k = 0; k < 20; k++) fn(i++);
  const start = cpuSeconds();
  const end = start + SECONDS;
  let n = 0;
  while (true) {
    for (let k = 0; k < 20; k++) fn(n++);
    const now = cpuSeconds();
    if (now >= end) return n / (now - start);
  }
}

/** A policy of corpus-like size: the KubeArmor corpus has 2.6 rules per policy on average
 *  (median 1, 90th percentile 8); these cycle through 1, 1, 2, 3, 5 and 8 rules. */
export function typicalPolicy(i: number): Policy {
  const sizes = [1, 1, 2, 3, 5, 8];
  const n = sizes[i % sizes.length]!;
  const file = Array.from({ length: Math.ceil(n / 2) }, (_, k) => ({ path: `/etc/app-${i}/conf-${k}.yaml`, readOnly: true }));
  const process = Array.from({ length: Math.floor(n / 2) }, (_, k) => ({ execname: `tool-${i}-${k}` }));
  const spec: Record<string, unknown> = {
    selector: i % 3 === 0 ? { matchExpressions: [{ key: 'label', operator: 'In', values: ['app=web'] }] } : { matchLabels: { app: 'web' } },
    severity: 1 + (i % 10), tags: ['bench', `t${i % 4}`], message: `policy ${i}`, action: i % 5 === 0 ? 'Audit' : 'Block',
    file: { matchPaths: file },
  };
  if (process.length > 0) spec['process'] = { matchPaths: process };
  if (i % 10 === 0) spec['network'] = { matchProtocols: [{ protocol: 'raw' }] };
  return { apiVersion: 'security.kubearmor.com/v1', kind: 'KubeArmorPolicy', metadata: { name: `p${String(i).padStart(2, '0')}`, namespace: 'shop', generation: 1 }, spec };
}

function validated(p: Policy): Policy {
  const v = validatePolicy(p);
  if (v.policy === null) throw new Error(`invalid benchmark policy: ${JSON.stringify(v.problems)}`);
  return v.policy;
}

export const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'shop', labels: { app: 'web', env: 'prod' } }, spec: { containers: [{ name: 'web' }] } };
export const ns: Namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', annotations: { 'kubearmor-network-posture': 'block' } } };
export const options = { defaultPosture: DEFAULT_POSTURE, signingKey: Buffer.from('benchmark-signing-key-0123456789') };

function compileBench(label: string, policies: Policy[], target: number | null): void {
  const first = compile(pod, ns, policies, options);
  if (!first.ok || first.value.bound.length !== policies.length) throw new Error(`benchmark pod should bind ${policies.length} policies: ${JSON.stringify(first).slice(0, 300)}`);
  const ann = first.value.annotations['armorgate.io/profile']!;
  const rules = ['process', 'file', 'network', 'capabilities'].reduce((n, k) => n + first.value.profile![k as 'file'].length, 0);
  const rate = measure(() => { compile(pod, ns, policies, options); });
  // Every profile new to the encoder: gzip (past 32 KiB) and SHA-256 on each call.
  const uncached = measure(() => { clearEncodeCache(); compile(pod, ns, policies, options); });
  // The same with policy objects never seen before (no per-policy cache): the first pod after a policy change.
  const FRESH = Math.max(20, Math.min(200, Math.round(rate / 10)));
  let spent = 0;
  for (let i = 0; i < FRESH; i++) {
    const set = structuredClone(policies);
    const t0 = cpuSeconds();
    compile(pod, ns, set, options);
    spent += cpuSeconds() - t0;
  }
  const cold = FRESH / spent;
  const verdict = target === null ? '' : `   target >= ${fmt(target)}   ${rate >= target ? 'ok' : 'BELOW TARGET'}`;
  console.log(`compilations/s (${label}): ${fmt(rate)}${verdict}`);
  console.log(`    ${rules} profile rules, annotation ${fmt(ann.length)} bytes${ann.startsWith('gz:') ? ' (gzipped)' : ''}; profile new to the encoder: ${fmt(uncached)}/s; fresh policy objects: ${fmt(cold)}/s`);
}

const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');

export function main(): void {
  const doc = fiftyRulePolicy('bench', 'shop', 0);
  const rules = ruleCount(doc);
  if (rules !== 50) throw new Error(`benchmark policy has ${rules} rules, not 50`);
  const check = validatePolicy(doc);
  if (check.policy === null) throw new Error(`benchmark policy is invalid: ${JSON.stringify(check.problems)}`);

  const validations = measure(() => { validatePolicy(doc); });
  console.log(`validations/s (50-rule policy):          ${fmt(validations)}   target >= 20,000   ${validations >= 20_000 ? 'ok' : 'BELOW TARGET'}`);

  compileBench('pod bound to 50 corpus-sized policies', Array.from({ length: 50 }, (_, i) => validated(typicalPolicy(i))), 5_000);
  compileBench('pod bound to 50 policies of 50 rules', Array.from({ length: 50 }, (_, i) => validated(fiftyRulePolicy(`p${String(i).padStart(2, '0')}`, 'shop', i))), null);
  console.log(`(rates per second of CPU time, ${SECONDS} s of CPU per measurement after a warm-up; one thread; node ${process.version})`);
}

if (import.meta.main) main();
