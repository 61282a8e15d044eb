// readOnly and ownerOnly, as KubeArmor means them (docs/selection.md has the table and the
// sources): the two flags describe what a rule PERMITS, its exemption —
//   readOnly: reads (of a file rule's target);
//   ownerOnly: accesses by the file's owner (the acting fsuid equals the inode's uid);
//   both: reads by the owner.
// An Allow rule matches exactly what it permits. A Block or Audit rule with a flag matches
// everything else: with both, a non-owner is denied every access and the owner every change.
// Without flags, a rule matches every access. readOnly means nothing to non-file kinds.
import type { Action, RuleKind } from './types.ts';

export interface Qualifiers {
  readOnly: boolean;
  ownerOnly: boolean;
}

/** Whether a rule with these flags and this action matches an access (write: it changes the
 *  file; owner: the actor owns it). The kernel's qualifies() in bpf/armorgate.bpf.c is the same. */
export function qualifies(kind: RuleKind, action: Action, q: Qualifiers, write: boolean, owner: boolean): boolean {
  const readOnly = q.readOnly && kind === 'file';
  if (!readOnly && !q.ownerOnly) return true;
  const permitted = (!readOnly || !write) && (!q.ownerOnly || owner);
  return action === 'Allow' ? permitted : !permitted;
}
