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
