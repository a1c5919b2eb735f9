{{/* Names: <release>-llm-expo unless the release name already contains the chart's name. */}}
{{- define "llm-expo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "llm-expo.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Object names (kept under 52 characters so the Jobs' pod names stay valid). */}}
{{- define "llm-expo.coordinatorName" -}}
{{- printf "%s-coordinator" (include "llm-expo.fullname" . | trunc 40 | trimSuffix "-") }}
{{- end }}
{{- define "llm-expo.workerName" -}}
{{- printf "%s-worker" (include "llm-expo.fullname" . | trunc 40 | trimSuffix "-") }}
{{- end }}
{{/* Indexed Job pods are named <job>-<index>-<suffix>: shorter names leave room for the index. */}}
{{- define "llm-expo.evaluationName" -}}
{{- printf "%s-evaluate" (include "llm-expo.fullname" . | trunc 38 | trimSuffix "-") }}
{{- end }}
{{- define "llm-expo.sweepReportName" -}}
{{- printf "%s-sweep-report" (include "llm-expo.fullname" . | trunc 38 | trimSuffix "-") }}
{{- end }}
{{- define "llm-expo.tokenSecretName" -}}
{{- default (printf "%s-token" (include "llm-expo.fullname" .)) .Values.token.existingSecret }}
{{- end }}
{{- define "llm-expo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "llm-expo.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The coordinator Service's DNS name and gRPC port: the workers' --coordinator. */}}
{{- define "llm-expo.coordinatorAddress" -}}
{{- printf "%s.%s.svc.%s:%d" (include "llm-expo.coordinatorName" .) .Release.Namespace .Values.clusterDomain (int .Values.coordinator.grpcPort) }}
{{- end }}

{{- define "llm-expo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "llm-expo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "llm-expo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Standard labels; call with (dict "root" $ "component" "coordinator"). */}}
{{- define "llm-expo.labels" -}}
helm.sh/chart: {{ include "llm-expo.chart" .root }}
{{ include "llm-expo.selectorLabels" .root }}
app.kubernetes.io/version: {{ default .root.Chart.AppVersion .root.Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: llm-expo
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{- define "llm-expo.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Pod annotations: plain Prometheus scrape annotations unless a PodMonitor is used, plus the user's. */}}
{{- define "llm-expo.podAnnotations" -}}
{{- if and .Values.metrics.podAnnotations (not .Values.metrics.podMonitor.enabled) }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.metrics.port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* S3 flags shared by both containers: the endpoint and addressing style, as the CLI takes them. */}}
{{- define "llm-expo.s3Args" -}}
{{- with .Values.s3.endpoint }}
- --s3-endpoint={{ . }}
{{- end }}
{{- if eq (toString .Values.s3.pathStyle) "true" }}
- --s3-path-style
{{- else if eq (toString .Values.s3.pathStyle) "false" }}
- --no-s3-path-style
{{- end }}
{{- end }}

{{/* Environment shared by both containers: S3 region and credentials. */}}
{{- define "llm-expo.s3Env" -}}
- name: AWS_REGION
  value: {{ .Values.s3.region | quote }}
{{- with .Values.s3.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.s3.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.s3.secretAccessKeyKey }}
{{- if $.Values.s3.sessionTokenKey }}
- name: AWS_SESSION_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.s3.sessionTokenKey }}
{{- end }}
{{- end }}
{{- end }}

{{/* The pod-level settings shared by both Jobs. */}}
{{- define "llm-expo.podCommon" -}}
serviceAccountName: {{ include "llm-expo.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountToken }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}

{{/* Volumes shared by both Jobs: the token and a writable /tmp. */}}
{{- define "llm-expo.volumes" -}}
- name: token
  secret:
    secretName: {{ include "llm-expo.tokenSecretName" . }}
    items:
      - key: {{ .Values.token.key }}
        path: token
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}
{{- define "llm-expo.volumeMounts" -}}
- name: token
  mountPath: /var/run/llm-expo
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* The sweep's containers read the job spec the coordinator reads. */}}
{{- define "llm-expo.specVolume" -}}
- name: spec
  configMap:
    name: {{ include "llm-expo.coordinatorName" . }}-spec
{{- end }}
