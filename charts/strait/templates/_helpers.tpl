{{/* Shared names and labels of the strait chart. */}}

{{- define "strait.labels" -}}
app.kubernetes.io/name: strait
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: strait-{{ .Chart.Version }}
{{- end -}}

{{- define "strait.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The controller Service that Envoy and the agent reach for xDS. */}}
{{- define "strait.xdsHost" -}}
strait-controller.{{ .Release.Namespace }}.svc.cluster.local
{{- end -}}

{{/* The auth provider, checked: one of none, builtin-ca, spire, cert-manager, with its required values. */}}
{{- define "strait.authProvider" -}}
{{- $p := .Values.auth.provider -}}
{{- if not (has $p (list "none" "builtin-ca" "spire" "cert-manager")) -}}
{{- fail (printf "auth.provider must be none, builtin-ca, spire or cert-manager, not %q" $p) -}}
{{- end -}}
{{- if and (eq $p "builtin-ca") (not .Values.auth.builtinCa.nodeTokens) -}}
{{- fail "auth.provider builtin-ca needs auth.builtinCa.nodeTokens (node name: token)" -}}
{{- end -}}
{{- if eq $p "builtin-ca" -}}
{{- range $node, $token := .Values.auth.builtinCa.nodeTokens -}}
{{- if lt (len (toString $token)) 16 -}}
{{- fail (printf "auth.builtinCa.nodeTokens: the token of node %q must be at least 16 characters" $node) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (eq $p "cert-manager") (or (not .Values.auth.certManager.issuer) (not .Values.auth.certManager.caConfigMap)) -}}
{{- fail "auth.provider cert-manager needs auth.certManager.issuer and auth.certManager.caConfigMap" -}}
{{- end -}}
{{- $p -}}
{{- end -}}

{{/* The Secret with the built-in CA root: the one given, or the one the chart generates. */}}
{{- define "strait.caSecretName" -}}
{{ .Values.auth.builtinCa.secretName | default "strait-builtin-ca" }}
{{- end -}}

{{/* The TLS of xDS, checked: builtin-ca or none (auto picks builtin-ca with the built-in CA). */}}
{{- define "strait.xdsTls" -}}
{{- $t := .Values.xds.tls -}}
{{- $p := include "strait.authProvider" . -}}
{{- if not (has $t (list "auto" "builtin-ca" "none")) -}}
{{- fail (printf "xds.tls must be auto, builtin-ca or none, not %q" $t) -}}
{{- end -}}
{{- if and (eq $t "builtin-ca") (ne $p "builtin-ca") -}}
{{- fail "xds.tls builtin-ca needs auth.provider builtin-ca (the built-in CA issues the xDS certificates)" -}}
{{- end -}}
{{- if or (eq $t "builtin-ca") (and (eq $t "auto") (eq $p "builtin-ca")) -}}
builtin-ca
{{- else -}}
none
{{- end -}}
{{- end -}}

{{/* The names the xDS server's certificate carries: the controller Service's, short to full. */}}
{{- define "strait.xdsServerNames" -}}
strait-controller,strait-controller.{{ .Release.Namespace }},strait-controller.{{ .Release.Namespace }}.svc,{{ include "strait.xdsHost" . }}
{{- end -}}

{{/*
auth.encryption, checked: off or envoy; envoy needs an auth provider (the SVIDs).
*/}}
{{- define "strait.authEncryption" -}}
{{- $e := toString .Values.auth.encryption -}}
{{- if eq $e "false" -}}{{- $e = "off" -}}{{- end -}}
{{- if not (has $e (list "off" "envoy")) -}}
{{- fail (printf "auth.encryption must be off or envoy, not %q" $e) -}}
{{- end -}}
{{- if and (eq $e "envoy") (eq (include "strait.authProvider" .) "none") -}}
{{- fail "auth.encryption envoy needs auth.provider (builtin-ca, spire or cert-manager): the tunnel uses the identities' SVIDs" -}}
{{- end -}}
{{- $e -}}
{{- end -}}
