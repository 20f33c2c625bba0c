/**
 * A container's environment as the kubelet computes it from the pod spec:
 * plain values, `$(VAR)` references to variables defined before, the downward
 * API (`fieldRef`), and keys of Secrets and ConfigMaps. Pure: the Secrets and
 * ConfigMaps are looked up through the function passed in.
 */

export interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: {
    readonly fieldRef?: { readonly fieldPath: string };
    readonly secretKeyRef?: { readonly name: string; readonly key: string; readonly optional?: boolean };
    readonly configMapKeyRef?: { readonly name: string; readonly key: string; readonly optional?: boolean };
    readonly resourceFieldRef?: { readonly resource: string };
  };
}

export interface PodFacts {
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly uid: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly spec: { readonly nodeName?: string; readonly serviceAccountName?: string };
  readonly podIP: string;
  readonly hostIP: string;
}

export type KeyLookup = (kind: "Secret" | "ConfigMap", name: string, key: string) => string | undefined;

function mapKey(fieldPath: string, prefix: string): string | undefined {
  const m = new RegExp(`^${prefix}\\['(.+)'\\]$`).exec(fieldPath);
  return m?.[1];
}

/** The downward API value of `fieldPath`, or an error message. */
export function fieldValue(pod: PodFacts, fieldPath: string): string | { error: string } {
  switch (fieldPath) {
    case "metadata.name":
      return pod.metadata.name;
    case "metadata.namespace":
      return pod.metadata.namespace;
    case "metadata.uid":
      return pod.metadata.uid;
    case "spec.nodeName":
      return pod.spec.nodeName ?? "";
    case "spec.serviceAccountName":
      return pod.spec.serviceAccountName ?? "default";
    case "status.podIP":
    case "status.podIPs":
      return pod.podIP;
    case "status.hostIP":
    case "status.hostIPs":
      return pod.hostIP;
  }
  const label = mapKey(fieldPath, "metadata\\.labels");
  if (label !== undefined) return pod.metadata.labels?.[label] ?? "";
  const annotation = mapKey(fieldPath, "metadata\\.annotations");
  if (annotation !== undefined) return pod.metadata.annotations?.[annotation] ?? "";
  return { error: `unsupported fieldPath ${fieldPath}` };
}

/** `$(NAME)` of a variable defined so far is replaced, `$$(NAME)` escapes, unknown ones stay as written. */
export function expandReferences(value: string, defined: ReadonlyMap<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (name === undefined) return "$";
    return defined.get(name) ?? match;
  });
}

export type EnvResult = { ok: true; env: Map<string, string> } | { ok: false; error: string };

export function containerEnv(pod: PodFacts, env: readonly EnvVar[], lookup: KeyLookup): EnvResult {
  const out = new Map<string, string>();
  for (const v of env) {
    if (v.valueFrom === undefined) {
      out.set(v.name, expandReferences(v.value ?? "", out));
      continue;
    }
    const { fieldRef, secretKeyRef, configMapKeyRef, resourceFieldRef } = v.valueFrom;
    if (fieldRef !== undefined) {
      const value = fieldValue(pod, fieldRef.fieldPath);
      if (typeof value !== "string") return { ok: false, error: `env ${v.name}: ${value.error}` };
      out.set(v.name, value);
    } else if (secretKeyRef !== undefined || configMapKeyRef !== undefined) {
      const [kind, ref] =
        secretKeyRef !== undefined
          ? (["Secret", secretKeyRef] as const)
          : (["ConfigMap", configMapKeyRef] as const);
      if (ref === undefined) continue;
      const value = lookup(kind, ref.name, ref.key);
      if (value === undefined) {
        if (ref.optional === true) continue;
        return { ok: false, error: `env ${v.name}: ${kind} ${ref.name} has no key ${ref.key}` };
      }
      out.set(v.name, value);
    } else if (resourceFieldRef !== undefined) {
      // No resource accounting here: a limit reads as unset (0), like a container without one.
      out.set(v.name, "0");
    }
  }
  return { ok: true, env: out };
}
