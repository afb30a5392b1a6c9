{{- define "taskstream.labels" -}}
app.kubernetes.io/name: taskstream
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
