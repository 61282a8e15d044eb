// Shared by the capabilities guest suites: the enforcer DaemonSet's capability set, and the
// setpriv prefix that runs a command as root with exactly that set.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

type Any = Record<string, unknown>;

/** capabilities.add of the enforcer container in manifests/enforcer.yaml, e.g. ['BPF', 'PERFMON']. */
export function daemonSetCapabilities(root: string): string[] {
  const ds = parse(readFileSync(join(root, 'manifests', 'enforcer.yaml'), 'utf8')) as Any;
  const c = ((((ds.spec as Any).template as Any).spec as Any).containers as Any[])[0] as Any;
  const caps = ((c.securityContext as Any).capabilities as Any).add as string[];
  assert.ok(Array.isArray(caps) && caps.length > 0, 'the DaemonSet adds capabilities');
  return caps;
}

/** The capabilities the search for hard links through containers' roots needs (and nothing
 *  else: loading and attaching the programs needs the rest). */
export const LINK_SEARCH_CAPABILITIES: readonly string[] = ['SYS_PTRACE', 'DAC_READ_SEARCH'];

/** argv prefix: root with exactly these capabilities. */
export function withCapabilities(caps: readonly string[]): string[] {
  const set = ['-all', ...caps.map((c) => `+${c.toLowerCase()}`)].join(',');
  return ['/usr/bin/setpriv', `--bounding-set=${set}`, '--inh-caps=-all', '--ambient-caps=-all', '--no-new-privs', '--'];
}
