/**
 * The security-relevant labels of a pod, as Cilium derives them: the pod's
 * own labels, its namespace (`io.kubernetes.pod.namespace`), its namespace's
 * labels (`io.cilium.k8s.namespace.labels.<key>`), its service account and
 * the cluster name (`io.cilium.k8s.policy.*`), all with source `k8s`, minus
 * what the label filter excludes.
 */
import type { ObjectOf } from "../resources/objects.ts";
import { isIdentityRelevant } from "./label-filter.ts";
import { type Label, LabelSet, SOURCE } from "./labels.ts";

export const NAMESPACE_LABEL = "io.kubernetes.pod.namespace";
export const NAMESPACE_LABELS_PREFIX = "io.cilium.k8s.namespace.labels.";
export const SERVICE_ACCOUNT_LABEL = "io.cilium.k8s.policy.serviceaccount";
export const CLUSTER_LABEL = "io.cilium.k8s.policy.cluster";
/** Set by the API server on every Namespace (since Kubernetes 1.21). */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

/**
 * A namespace's labels. The API server always sets `kubernetes.io/metadata.name`;
 * a folder of manifests may leave it out, or not hold the Namespace at all,
 * so it is added here as the API server would.
 */
export function namespaceLabels(
  name: string,
  namespace: ObjectOf<"Namespace"> | undefined,
): Readonly<Record<string, string>> {
  return { ...(namespace?.metadata.labels ?? {}), [NAMESPACE_NAME_LABEL]: name };
}

function k8s(key: string, value: string): Label {
  return { source: SOURCE.k8s, key, value };
}

export function podLabels(
  pod: ObjectOf<"Pod">,
  nsLabels: Readonly<Record<string, string>>,
  clusterName: string,
): LabelSet {
  const labels: Label[] = [];
  for (const [key, value] of Object.entries(pod.metadata.labels ?? {})) labels.push(k8s(key, value));
  labels.push(k8s(NAMESPACE_LABEL, pod.metadata.namespace ?? "default"));
  for (const [key, value] of Object.entries(nsLabels))
    labels.push(k8s(`${NAMESPACE_LABELS_PREFIX}${key}`, value));
  const spec = pod.spec as { serviceAccountName?: string; serviceAccount?: string } | undefined;
  labels.push(k8s(SERVICE_ACCOUNT_LABEL, spec?.serviceAccountName ?? spec?.serviceAccount ?? "default"));
  labels.push(k8s(CLUSTER_LABEL, clusterName));
  return new LabelSet(labels.filter(isIdentityRelevant));
}
