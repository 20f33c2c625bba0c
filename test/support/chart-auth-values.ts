/**
 * `helm --set` values that render charts/strait with each `auth.provider`,
 * shared by the helm-rendering test and the API server's dry run.
 */
export const AUTH_NODE = "node-a";

export const AUTH_PROVIDER_VALUES: Readonly<Record<string, readonly string[]>> = {
  none: [],
  "builtin-ca": [
    "auth.builtinCa.secretName=strait-ca",
    `auth.builtinCa.nodeTokens.${AUTH_NODE}=0123456789abcdef0123`,
    "auth.builtinCa.nodeTokens.node-b=fedcba9876543210fedc",
  ],
  spire: [
    "auth.spire.serverSocketDir=/run/spire/server-sockets",
    "auth.spire.delegateSelectors={k8s:ns:strait-system,k8s:sa:strait-agent}",
  ],
  "cert-manager": [
    "auth.certManager.issuer=ClusterIssuer/strait-ca",
    "auth.certManager.caConfigMap=strait-ca-bundle",
  ],
};

/** `helm template` arguments for `provider`. */
export function authProviderSets(provider: string): string[] {
  return [`auth.provider=${provider}`, ...(AUTH_PROVIDER_VALUES[provider] ?? [])].flatMap((x) => [
    "--set",
    x,
  ]);
}
