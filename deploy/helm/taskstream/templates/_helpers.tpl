{{/* The release's base name: <release>-taskstream, or the release name alone when it says taskstream. */}}
{{- define "taskstream.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains "taskstream" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-taskstream" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "taskstream.selectorLabels" -}}
app.kubernetes.io/name: taskstream
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "taskstream.labels" -}}
{{ include "taskstream.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "taskstream.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* A component's image: its own imageTag during a staged upgrade, else the release's. */}}
{{- define "taskstream.componentImage" -}}
{{- if .component.imageTag -}}
{{- printf "%s:%s" .root.Values.image.repository .component.imageTag -}}
{{- else -}}
{{- include "taskstream.image" .root -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the connection URLs: the user's, or the one this chart makes. */}}
{{- define "taskstream.secretName" -}}
{{- .Values.connections.existingSecret | default (printf "%s-connections" (include "taskstream.fullname" .)) -}}
{{- end -}}

{{- define "taskstream.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "taskstream.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* Components that are enabled, as a dict name -> component. */}}
{{- define "taskstream.enabledComponents" -}}
{{- $enabled := dict -}}
{{- range $name, $component := .Values.components -}}
{{- if $component.enabled -}}
{{- $_ := set $enabled $name $component -}}
{{- end -}}
{{- end -}}
{{- toJson $enabled -}}
{{- end -}}

{{/* Whether some enabled component runs the role given as .role. */}}
{{- define "taskstream.roleServed" -}}
{{- $served := false -}}
{{- range $name, $component := .root.Values.components -}}
{{- if and $component.enabled (has $.role $component.roles) -}}
{{- $served = true -}}
{{- end -}}
{{- end -}}
{{- if $served -}}true{{- end -}}
{{- end -}}

{{/* Every role must run somewhere; a dispatcher shares its pod with nothing that serves traffic unless allowed. */}}
{{- define "taskstream.validate" -}}
{{- range $role := list "api" "dispatcher" "projector" "read-api" -}}
{{- if not (include "taskstream.roleServed" (dict "root" $ "role" $role)) -}}
{{- fail (printf "no enabled component runs the %s role: add it to the roles of one in .Values.components" $role) -}}
{{- end -}}
{{- end -}}
{{- range $name, $component := .Values.components -}}
{{- if and $component.enabled (has "dispatcher" $component.roles) (gt (len $component.roles) 1) (not $.Values.allowDispatcherWithOtherRoles) -}}
{{- fail (printf "component %s runs the dispatcher with other roles: the pod is ready only while its dispatcher leads its share of the partitions, so an etcd outage or a handover would take the other roles out of their Services too; set allowDispatcherWithOtherRoles to accept that" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The security context of every container. */}}
{{- define "taskstream.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* TASKSTREAM_* settings from .Values.config (cli/config.ts); unset ones keep the program's default. */}}
{{- define "taskstream.configEnv" -}}
{{- $names := dict
  "partitions" "TASKSTREAM_PARTITIONS"
  "prefix" "TASKSTREAM_PREFIX"
  "logLevel" "TASKSTREAM_LOG_LEVEL"
  "dedupWindowMs" "TASKSTREAM_DEDUP_WINDOW_MS"
  "maxPayloadBytes" "TASKSTREAM_MAX_PAYLOAD_BYTES"
  "maxResultBytes" "TASKSTREAM_MAX_RESULT_BYTES"
  "heartbeatIntervalMs" "TASKSTREAM_HEARTBEAT_INTERVAL_MS"
  "heartbeatTimeoutMs" "TASKSTREAM_HEARTBEAT_TIMEOUT_MS"
  "reconnectGraceMs" "TASKSTREAM_RECONNECT_GRACE_MS"
  "leaseTtlSeconds" "TASKSTREAM_LEASE_TTL_SECONDS"
  "priorityAging" "TASKSTREAM_PRIORITY_AGING"
  "maxBacklog" "TASKSTREAM_MAX_BACKLOG"
  "maxWorkerSlots" "TASKSTREAM_MAX_WORKER_SLOTS"
  "graphiql" "TASKSTREAM_GRAPHIQL" -}}
{{- range $key, $value := .Values.config }}
{{- if not (kindIs "invalid" $value) }}
- name: {{ get $names $key }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The connection URLs, from the Secret. */}}
{{- define "taskstream.connectionEnv" -}}
{{- $secret := include "taskstream.secretName" . -}}
{{- $keys := .Values.connections.secretKeys -}}
- name: TASKSTREAM_REDIS_URL
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: {{ $keys.redisUrl }} } }
- name: TASKSTREAM_PG_URL
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: {{ $keys.pgUrl }} } }
- name: TASKSTREAM_ETCD_ENDPOINTS
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: {{ $keys.etcdEndpoints }} } }
{{- end -}}

{{/* The gauge worker autoscaling follows (observability/metrics.ts): due tasks waiting, by type. */}}
{{- define "taskstream.backlogMetric" -}}taskstream_queue_backlog{{- end -}}

{{/* PromQL label matchers selecting one worker group's due backlog in this release's namespace. */}}
{{- define "taskstream.backlogMatchers" -}}
{{- $types := list -}}
{{- range .worker.types }}{{ $types = append $types (regexQuoteMeta .) }}{{ end -}}
state="due",type=~"{{ join "|" $types }}"
{{- if .root.Values.workerAutoscaling.matchNamespace }},namespace="{{ .root.Release.Namespace }}"{{ end -}}
{{- end -}}
