// The kinds our manifests use, each with the id of its schema in the vendored files.
// Adding a kind to manifests/ means adding it here and re-running vendor.ts.
export type Kind = { apiVersion: string; kind: string; id: string };

export const KUBERNETES_KINDS: readonly Kind[] = [
  { apiVersion: 'v1', kind: 'Namespace', id: 'io.k8s.api.core.v1.Namespace' },
  { apiVersion: 'v1', kind: 'ServiceAccount', id: 'io.k8s.api.core.v1.ServiceAccount' },
  { apiVersion: 'v1', kind: 'Secret', id: 'io.k8s.api.core.v1.Secret' },
  { apiVersion: 'v1', kind: 'Service', id: 'io.k8s.api.core.v1.Service' },
  { apiVersion: 'apps/v1', kind: 'Deployment', id: 'io.k8s.api.apps.v1.Deployment' },
  { apiVersion: 'apps/v1', kind: 'DaemonSet', id: 'io.k8s.api.apps.v1.DaemonSet' },
  { apiVersion: 'batch/v1', kind: 'Job', id: 'io.k8s.api.batch.v1.Job' },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', id: 'io.k8s.api.policy.v1.PodDisruptionBudget' },
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', id: 'io.k8s.api.networking.v1.NetworkPolicy' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', id: 'io.k8s.api.rbac.v1.ClusterRole' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', id: 'io.k8s.api.rbac.v1.ClusterRoleBinding' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', id: 'io.k8s.api.rbac.v1.Role' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', id: 'io.k8s.api.rbac.v1.RoleBinding' },
  {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    id: 'io.k8s.api.admissionregistration.v1.MutatingWebhookConfiguration',
  },
  {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    id: 'io.k8s.api.admissionregistration.v1.ValidatingWebhookConfiguration',
  },
  {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    id: 'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition',
  },
];

export const CERT_MANAGER_KINDS: readonly Kind[] = [
  { apiVersion: 'cert-manager.io/v1', kind: 'Issuer', id: 'cert-manager.io.v1.Issuer' },
  { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', id: 'cert-manager.io.v1.Certificate' },
];

export const ALL_KINDS: readonly Kind[] = [...KUBERNETES_KINDS, ...CERT_MANAGER_KINDS];
