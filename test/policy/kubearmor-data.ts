// Where KubeArmor's reference data (CRDs, policy corpus, verdicts) is read in place.
// It is third-party data kept outside the project: tests that need it skip when it is absent.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** ARMORGATE_KUBEARMOR_DATA, else ../shared/kubearmor beside the repository. */
export const KUBEARMOR_DATA = process.env.ARMORGATE_KUBEARMOR_DATA ?? join(REPO_ROOT, '..', 'shared', 'kubearmor');

/** A skip reason when the data (or one file of it) is missing, else false. */
export function missingData(...parts: string[]): string | false {
  const p = join(KUBEARMOR_DATA, ...parts);
  return existsSync(p) ? false : `KubeArmor reference data not found at ${p} (set ARMORGATE_KUBEARMOR_DATA)`;
}
