{{/* ---------------------------------------------------------------- names */}}

{{- define "crm.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every resource name: <release>-crm, or <release> when it already contains the chart name. */}}
{{- define "crm.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "crm.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Component name: <fullname>-<svc>[-<role>] for role worker|beat|migrate; the app role has no suffix.
Usage: include "crm.componentName" (dict "root" $ "svc" "leads" "role" "worker")
*/}}
{{- define "crm.componentName" -}}
{{- $base := printf "%s-%s" (include "crm.fullname" .root) .svc -}}
{{- if and .role (ne .role "app") -}}
{{- printf "%s-%s" $base .role | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $base | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* app.kubernetes.io/component value: <svc> for the app, <svc>-<role> otherwise. */}}
{{- define "crm.component" -}}
{{- if and .role (ne .role "app") -}}
{{- printf "%s-%s" .svc .role -}}
{{- else -}}
{{- .svc -}}
{{- end -}}
{{- end -}}

{{/* ---------------------------------------------------------------- labels */}}

{{/* Selector labels. Usage: include "crm.selectorLabels" (dict "root" $ "svc" "leads" "role" "app") */}}
{{- define "crm.selectorLabels" -}}
app.kubernetes.io/name: {{ include "crm.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .svc }}
app.kubernetes.io/component: {{ include "crm.component" . }}
{{- end }}
{{- end -}}

{{/* Common labels; `svc` and `role` are optional (chart-wide objects have neither). */}}
{{- define "crm.labels" -}}
helm.sh/chart: {{ include "crm.chart" .root }}
{{ include "crm.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: crm
{{- if .svc }}
crm/service: {{ .svc }}
crm/role: {{ default "app" .role }}
{{- end }}
{{- end -}}

{{/* ---------------------------------------------------------------- service config */}}

{{/*
Deep-merge .src into the map .dst in place (maps merge key by key; any other value, including
false, 0, "" and lists, replaces). Sprig's mergeOverwrite cannot be used: it ignores false/0/"".
*/}}
{{- define "crm.mergeInto" -}}
{{- $dst := .dst -}}
{{- range $k, $v := .src -}}
{{- if and (kindIs "map" $v) (kindIs "map" (index $dst $k)) -}}
{{- include "crm.mergeInto" (dict "dst" (index $dst $k) "src" $v) -}}
{{- else -}}
{{- $_ := set $dst $k $v -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Effective configuration of one service: serviceDefaults deep-merged with services.<svc>.
Usage: {{- $cfg := include "crm.serviceConfig" (dict "root" $ "svc" $svc) | fromYaml }}
*/}}
{{- define "crm.serviceConfig" -}}
{{- $cfg := deepCopy .root.Values.serviceDefaults -}}
{{- include "crm.mergeInto" (dict "dst" $cfg "src" (index .root.Values.services .svc)) -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* Image reference of a service. Usage: include "crm.image" (dict "root" $ "svc" $svc "cfg" $cfg) */}}
{{- define "crm.image" -}}
{{- $img := .root.Values.image -}}
{{- $repo := .cfg.image.repository -}}
{{- if not $repo -}}
{{- $repo = printf "%s%s" $img.repositoryPrefix .svc -}}
{{- if $img.registry -}}
{{- $repo = printf "%s/%s" (trimSuffix "/" $img.registry) $repo -}}
{{- end -}}
{{- end -}}
{{- $tag := .cfg.image.tag | default $img.tag | default .root.Chart.AppVersion -}}
{{- printf "%s:%s" $repo (toString $tag) -}}
{{- end -}}

{{- define "crm.serviceAccountName" -}}
{{- if .cfg.serviceAccount.create -}}
{{- default (include "crm.componentName" (dict "root" .root "svc" .svc)) .cfg.serviceAccount.name -}}
{{- else -}}
{{- default "default" .cfg.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "crm.migrationServiceAccountName" -}}
{{- $sa := .Values.migrations.serviceAccount -}}
{{- if $sa.create -}}
{{- default (printf "%s-migrate" (include "crm.fullname" .)) $sa.name -}}
{{- else -}}
{{- default "default" $sa.name -}}
{{- end -}}
{{- end -}}

{{/* Env var from a plain value or from a Secret. Usage: include "crm.urlEnv" (dict "name" "X" "src" $src) */}}
{{- define "crm.urlEnv" -}}
- name: {{ .name }}
{{- if .src.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ .src.existingSecret }}
      key: {{ .src.existingSecretKey }}
{{- else }}
  value: {{ required (printf "%s: set a url or an existingSecret" .name) .src.url | quote }}
{{- end }}
{{- end -}}

{{/*
Environment of every container of a service (the contract: <SVC>_DATABASE_URL, _NATS_URL, _REDIS_URL,
_HTTP_PORT, _GRPC_PORT, _ENV, _JWT_SECRET, _JWT_JWKS_URL, _SERVICE_TOKEN, _LOG_LEVEL).
Usage: include "crm.env" (dict "root" $ "svc" $svc "cfg" $cfg "role" "app")
*/}}
{{- define "crm.env" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $p := printf "%s_" (upper .svc) -}}
{{- $redis := $v.redis -}}
{{- if or .cfg.redis.url .cfg.redis.existingSecret -}}
{{- $redis = .cfg.redis -}}
{{- end -}}
- name: {{ $p }}ENV
  value: {{ $v.global.env | quote }}
- name: {{ $p }}LOG_LEVEL
  value: {{ .cfg.logLevel | default $v.global.logLevel | quote }}
- name: {{ $p }}HTTP_PORT
  value: {{ .cfg.httpPort | quote }}
- name: {{ $p }}GRPC_PORT
  value: {{ .cfg.grpcPort | quote }}
- name: {{ $p }}DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "services.%s.database.existingSecret is required" .svc) .cfg.database.existingSecret }}
      key: {{ .cfg.database.existingSecretKey }}
{{ include "crm.urlEnv" (dict "name" (printf "%sNATS_URL" $p) "src" $v.nats) }}
{{ include "crm.urlEnv" (dict "name" (printf "%sREDIS_URL" $p) "src" $redis) }}
{{- if $v.auth.jwtSecretKey }}
- name: {{ $p }}JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $v.auth.existingSecret }}
      key: {{ $v.auth.jwtSecretKey }}
{{- end }}
{{- if $v.auth.jwtJwksUrl }}
- name: {{ $p }}JWT_JWKS_URL
  value: {{ $v.auth.jwtJwksUrl | quote }}
{{- end }}
- name: {{ $p }}SERVICE_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $v.auth.existingSecret }}
      key: {{ $v.auth.serviceTokenKey }}
{{- if ne .role "migrate" }}
{{- include "crm.grpcPeerEnv" . }}
{{- end }}
{{- if eq .role "worker" }}
- name: CRM_WORKER_CONCURRENCY
  value: {{ .cfg.worker.concurrency | quote }}
{{- if .cfg.worker.metrics.enabled }}
- name: {{ $p }}WORKER_METRICS_PORT
  value: {{ .cfg.worker.metrics.port | quote }}
{{- end }}
{{- end }}
{{- if $v.global.otlpEndpoint }}
- name: {{ $p }}OTEL_EXPORTER
  value: otlp
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $v.global.otlpEndpoint | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ printf "crm-%s" .svc | quote }}
{{- end }}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- range $name, $value := .cfg.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with $v.global.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- with .cfg.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
<SVC>_<PEER>_GRPC_TARGET for each service in .cfg.grpcPeers: the peer's Service in this release and
namespace on its gRPC port (e.g. LEADS_DEALS_GRPC_TARGET=crm-deals.crm.svc:50051). A variable of the
same name in services.<svc>.env, services.<svc>.extraEnv or global.extraEnv replaces it (e.g. a deals
outside the release). An unknown peer, or a disabled one without such an override, fails the render.
Usage: include "crm.grpcPeerEnv" (dict "root" $ "svc" $svc "cfg" $cfg)
*/}}
{{- define "crm.grpcPeerEnv" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
{{- $env := .cfg.env | default dict -}}
{{- $given := list -}}
{{- range concat ($root.Values.global.extraEnv | default list) (.cfg.extraEnv | default list) -}}
{{- $given = append $given .name -}}
{{- end -}}
{{- range $peer := .cfg.grpcPeers | default list -}}
{{- $name := printf "%s_%s_GRPC_TARGET" (upper $svc) (upper $peer | replace "-" "_") -}}
{{- if not (or (hasKey $env $name) (has $name $given)) -}}
{{- if not (hasKey $root.Values.services $peer) -}}
{{- fail (printf "services.%s.grpcPeers: unknown service %q" $svc $peer) -}}
{{- end -}}
{{- $peerCfg := include "crm.serviceConfig" (dict "root" $root "svc" $peer) | fromYaml -}}
{{- if not $peerCfg.enabled -}}
{{- fail (printf "services.%s.grpcPeers: %s is disabled; set services.%s.env.%s to reach it elsewhere" $svc $peer $svc $name) -}}
{{- end }}
- name: {{ $name }}
  value: {{ printf "%s.%s.svc:%v" (include "crm.componentName" (dict "root" $root "svc" $peer)) $root.Release.Namespace $peerCfg.grpcPort | quote }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Pod template spec shared by app, worker, beat and migration pods.
Usage: include "crm.podSpec" (dict "root" $ "svc" $svc "cfg" $cfg "role" "app|worker|beat|migrate")
*/}}
{{- define "crm.podSpec" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $c := $v.common -}}
{{- $role := .role -}}
{{- $resources := .cfg.resources | default $c.resources -}}
{{- $grace := $c.terminationGracePeriodSeconds -}}
{{- if eq $role "worker" }}{{ $resources = .cfg.worker.resources }}{{ $grace = .cfg.worker.terminationGracePeriodSeconds }}{{ end -}}
{{- if eq $role "beat" }}{{ $resources = .cfg.beat.resources }}{{ end -}}
{{- if eq $role "migrate" }}{{ $resources = $v.migrations.resources }}{{ end -}}
{{- if eq $role "migrate" }}
serviceAccountName: {{ include "crm.migrationServiceAccountName" $root }}
restartPolicy: Never
{{- else }}
serviceAccountName: {{ include "crm.serviceAccountName" . }}
{{- end }}
automountServiceAccountToken: false
enableServiceLinks: false
terminationGracePeriodSeconds: {{ $grace }}
{{- with $v.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
securityContext:
  {{- toYaml $c.podSecurityContext | nindent 2 }}
{{- with (.cfg.nodeSelector | default $c.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.cfg.tolerations | default $c.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.cfg.affinity | default $c.affinity) }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if ne $role "migrate" }}
{{- with (.cfg.topologySpreadConstraints | default $c.topologySpreadConstraints) }}
topologySpreadConstraints:
{{- range . }}
  - {{- toYaml (omit . "labelSelector") | nindent 4 }}
    labelSelector:
      matchLabels:
        {{- include "crm.selectorLabels" (dict "root" $root "svc" $.svc "role" $role) | nindent 8 }}
{{- end }}
{{- end }}
{{- end }}
containers:
  - name: {{ $role }}
    image: {{ include "crm.image" . }}
    imagePullPolicy: {{ $v.image.pullPolicy }}
    command: ["python", "-m", {{ printf "crm_%s" .svc | quote }}]
    args: [{{ $role | quote }}]
    env:
      {{- include "crm.env" . | nindent 6 }}
    {{- if eq $role "app" }}
    ports:
      - name: http
        containerPort: {{ .cfg.httpPort }}
        protocol: TCP
      - name: grpc
        containerPort: {{ .cfg.grpcPort }}
        protocol: TCP
    startupProbe:
      httpGet: {path: /healthz, port: http}
      {{- toYaml $c.probes.startup | nindent 6 }}
    livenessProbe:
      httpGet: {path: /healthz, port: http}
      {{- toYaml $c.probes.liveness | nindent 6 }}
    readinessProbe:
      httpGet: {path: /readyz, port: http}
      {{- toYaml $c.probes.readiness | nindent 6 }}
    {{- if gt (int $c.preStopSleepSeconds) 0 }}
    lifecycle:
      preStop:
        exec:
          command: ["sleep", {{ $c.preStopSleepSeconds | quote }}]
    {{- end }}
    {{- else if and (eq $role "worker") .cfg.worker.metrics.enabled }}
    ports:
      - name: metrics
        containerPort: {{ .cfg.worker.metrics.port }}
        protocol: TCP
    {{- end }}
    {{- with $resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    securityContext:
      {{- toYaml $c.securityContext | nindent 6 }}
    volumeMounts:
      - name: tmp
        mountPath: /tmp
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: 256Mi
{{- end -}}

{{/* Pod metadata (labels + annotations) for a role. */}}
{{- define "crm.podMetadata" -}}
{{- $c := .root.Values.common -}}
labels:
  {{- include "crm.labels" . | nindent 2 }}
  {{- with (merge (dict) (.cfg.podLabels | default dict) ($c.podLabels | default dict)) }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with (merge (dict) (.cfg.podAnnotations | default dict) ($c.podAnnotations | default dict)) }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
