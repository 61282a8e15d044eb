// The readOnly/ownerOnly table of docs/selection.md as data: for each action and flag set, what
// the owner and another user (root included: it is not the owner) get for a read and for a
// change of a file a rule names. KubeArmor's AppArmor profile (owner/other qualifiers with the
// r and klw permission sets), its BPF-LSM enforcer and its scenario steps agree on every cell;
// `posture` is what the kind's posture decides (no rule matched, allow-list mode).
import type { Action } from '../../policy/types.ts';

export type Cell = 'allow' | 'audit' | 'block' | 'posture';
export type Flags = 'readOnly' | 'ownerOnly' | 'both';
export interface Row { action: Action; flags: Flags; ownerRead: Cell; ownerWrite: Cell; otherRead: Cell; otherWrite: Cell }

export const OWNER_TABLE: readonly Row[] = [
  { action: 'Block', flags: 'readOnly', ownerRead: 'allow', ownerWrite: 'block', otherRead: 'allow', otherWrite: 'block' },
  { action: 'Block', flags: 'ownerOnly', ownerRead: 'allow', ownerWrite: 'allow', otherRead: 'block', otherWrite: 'block' },
  { action: 'Block', flags: 'both', ownerRead: 'allow', ownerWrite: 'block', otherRead: 'block', otherWrite: 'block' },
  { action: 'Audit', flags: 'readOnly', ownerRead: 'allow', ownerWrite: 'audit', otherRead: 'allow', otherWrite: 'audit' },
  { action: 'Audit', flags: 'ownerOnly', ownerRead: 'allow', ownerWrite: 'allow', otherRead: 'audit', otherWrite: 'audit' },
  { action: 'Audit', flags: 'both', ownerRead: 'allow', ownerWrite: 'audit', otherRead: 'audit', otherWrite: 'audit' },
  { action: 'Allow', flags: 'readOnly', ownerRead: 'allow', ownerWrite: 'posture', otherRead: 'allow', otherWrite: 'posture' },
  { action: 'Allow', flags: 'ownerOnly', ownerRead: 'allow', ownerWrite: 'allow', otherRead: 'posture', otherWrite: 'posture' },
  { action: 'Allow', flags: 'both', ownerRead: 'allow', ownerWrite: 'posture', otherRead: 'posture', otherWrite: 'posture' },
];

export function flagsOf(f: Flags): { readOnly: boolean; ownerOnly: boolean } {
  return { readOnly: f !== 'ownerOnly', ownerOnly: f !== 'readOnly' };
}
