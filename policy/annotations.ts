// Annotation keys of DESIGN.md: the contract between the gateway and the enforcer.
export const ANNOTATION_PREFIX = 'armorgate.io/';
export const ANN_POLICIES = 'armorgate.io/policies';
export const ANN_PROFILE = 'armorgate.io/profile';
export const ANN_PROFILE_DIGEST = 'armorgate.io/profile-digest';
export const ANN_PROFILE_SIGNATURE = 'armorgate.io/profile-signature';
export const ANN_POSTURE = 'armorgate.io/posture';
export const ANN_TRACEPARENT = 'armorgate.io/traceparent';
/** Namespace annotation that allows pods to opt out with `kubearmor-policy: disabled`. */
export const ANN_ALLOW_OPT_OUT = 'armorgate.io/allow-opt-out';
export const KUBEARMOR_OPT_OUT = 'kubearmor-policy';
export const KUBEARMOR_POSTURE = {
  file: 'kubearmor-file-posture',
  network: 'kubearmor-network-posture',
  capabilities: 'kubearmor-capabilities-posture',
} as const;
/** Profiles whose canonical JSON exceeds this are stored as `gz:` + base64(gzip). */
export const PROFILE_GZIP_THRESHOLD = 32 * 1024;
/** Kubernetes' limit on the total size of an object's annotations. */
export const ANNOTATIONS_MAX_BYTES = 256 * 1024;
export const CONTAINER_NAME_LABEL = 'kubearmor.io/container.name';
