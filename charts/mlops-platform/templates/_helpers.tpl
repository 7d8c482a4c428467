{{/* Chart name, overridable with nameOverride. */}}
{{- define "mlops-platform.names.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every resource name: fullnameOverride, else the release name (`mlops` gives mlops-prefect-server). */}}
{{- define "mlops-platform.names.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of one component's objects: (dict "ctx" $ "component" "minio"). */}}
{{- define "mlops-platform.names.component" -}}
{{- printf "%s-%s" (include "mlops-platform.names.fullname" .ctx) .component -}}
{{- end -}}

{{/* Every label of an object of one component: (dict "ctx" $ "component" "minio"). */}}
{{- define "mlops-platform.labels.standard" -}}
{{ include "mlops-platform.labels.selector" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: mlops-platform
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" | trunc 63 }}
{{- end -}}

{{/* Selector labels: only the immutable ones plus the component. */}}
{{- define "mlops-platform.labels.selector" -}}
app.kubernetes.io/name: {{ include "mlops-platform.names.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* An image reference from an images.<x> value. */}}
{{- define "mlops-platform.images.ref" -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}

{{/* Each service's port, in one place: containers, Services, NetworkPolicies, URLs, NOTES. */}}
{{- define "mlops-platform.port" -}}
{{- get (dict "prefect" 4200 "mlflow" 5000 "minio" 9000 "minioConsole" 9001 "postgres" 5432 "workerHealth" 8080 "daskScheduler" 8786 "daskWorker" 8788 "daskNanny" 8789) . -}}
{{- end -}}

{{/* The non-root user of the project's images (flow-runner, mlflow, minio): their Dockerfiles' USER. */}}
{{- define "mlops-platform.uid" -}}10001{{- end -}}

{{/* Pod securityContext for a fixed UID. */}}
{{- define "mlops-platform.security.pod" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container securityContext: a fixed UID, no escalation, no capabilities, read-only root. */}}
{{- define "mlops-platform.security.container" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* What every pod of the chart shares, when set: pull secrets and where it may be scheduled. */}}
{{- define "mlops-platform.pods.common" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The Dask scheduler's address, as train Jobs and the workers dial it. */}}
{{- define "mlops-platform.dask.address" -}}
{{- printf "tcp://%s:%s" (include "mlops-platform.names.component" (dict "ctx" . "component" "dask-scheduler")) (include "mlops-platform.port" "daskScheduler") -}}
{{- end -}}

{{/* What the Dask pods share: pull secrets, and dask.nodeSelector / dask.tolerations where set, else the
chart-wide ones (the cluster may live on nodes of its own). */}}
{{- define "mlops-platform.dask.pods" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.Values.dask.nodeSelector | default .Values.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.Values.dask.tolerations | default .Values.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The work pool base job template shipped with the chart (files/ links to infra/work-pool/). */}}
{{- define "mlops-platform.workPool.template" -}}
{{- .Files.Get "files/kubernetes-job-template.json" -}}
{{- end -}}

{{/* The pool template as this install hands it to the worker: the file, with the release namespace and the
flow-runner image of the values as the `namespace` and `image` defaults (so every environment's Jobs run in its
own namespace, with the image its values pin), and the chart's nodeSelector and tolerations as theirs (flow-run
pods are placed like every other pod of the release). */}}
{{- define "mlops-platform.workPool.installTemplate" -}}
{{- $template := include "mlops-platform.workPool.template" . | fromJson -}}
{{- $variables := $template.variables.properties -}}
{{- $_ := set $variables.namespace "default" .Release.Namespace -}}
{{- $_ := set $variables.image "default" (include "mlops-platform.images.ref" .Values.images.flowRunner) -}}
{{- with .Values.nodeSelector }}{{ $_ := set $variables.node_selector "default" . }}{{ end -}}
{{- with .Values.tolerations }}{{ $_ := set $variables.tolerations "default" . }}{{ end -}}
{{- toPrettyJson $template -}}
{{- end -}}

{{/* Shell script of the worker's init container: update the pool's base job template, or create the pool; then
(re)install the automation that crashes zombie flow runs (flows/zombie_runs.py). */}}
{{- define "mlops-platform.workPool.syncScript" -}}
set -eu
if prefect work-pool inspect "$WORK_POOL" >/dev/null 2>&1; then
  prefect work-pool update "$WORK_POOL" --base-job-template "$BASE_JOB_TEMPLATE"
else
  prefect work-pool create "$WORK_POOL" --type kubernetes --base-job-template "$BASE_JOB_TEMPLATE"
fi
python -m flows.zombie_runs "$WORK_POOL"
{{- end -}}

{{/* One default of the work pool template file's variables, e.g. (dict "ctx" $ "name" "settings_config_map"). */}}
{{- define "mlops-platform.workPool.default" -}}
{{- $template := include "mlops-platform.workPool.template" .ctx | fromJson -}}
{{- (index $template.variables.properties .name).default -}}
{{- end -}}

{{/* Prefect API URL the worker (and through it every flow run) uses. */}}
{{- define "mlops-platform.prefect.apiUrl" -}}
{{- if .Values.worker.apiUrl -}}
{{- .Values.worker.apiUrl -}}
{{- else -}}
{{- printf "http://%s:%s/api" (include "mlops-platform.names.component" (dict "ctx" . "component" "prefect-server")) (include "mlops-platform.port" "prefect") -}}
{{- end -}}
{{- end -}}

{{/* Secret whose key `auth-string` holds the Prefect API's basic-auth credential (`user:password`). */}}
{{- define "mlops-platform.prefect.authSecretName" -}}
{{- if .Values.prefectServer.auth.existingSecret -}}
{{- .Values.prefectServer.auth.existingSecret -}}
{{- else -}}
{{- include "mlops-platform.names.component" (dict "ctx" . "component" "prefect-auth") -}}
{{- end -}}
{{- end -}}

{{/* The Prefect client's credential, from the Secret only: the worker and its init container. */}}
{{- define "mlops-platform.prefect.clientAuthEnv" -}}
- name: PREFECT_API_AUTH_STRING
  valueFrom:
    secretKeyRef:
      name: {{ include "mlops-platform.prefect.authSecretName" . }}
      key: auth-string
{{- end -}}

{{/* Origins a browser page may call the Prefect API from: the value, else the origin of uiApiUrl. */}}
{{- define "mlops-platform.prefect.corsOrigins" -}}
{{- if .Values.prefectServer.corsAllowedOrigins -}}
{{- join "," .Values.prefectServer.corsAllowedOrigins -}}
{{- else -}}
{{- regexReplaceAll "^(https?://[^/]+).*$" .Values.prefectServer.uiApiUrl "${1}" -}}
{{- end -}}
{{- end -}}

{{/* MLflow tracking URI of the flow runs. */}}
{{- define "mlops-platform.mlflow.trackingUri" -}}
{{- if .Values.flowRuns.mlflowTrackingUri -}}
{{- .Values.flowRuns.mlflowTrackingUri -}}
{{- else -}}
{{- include "mlops-platform.mlflow.serviceUrl" . -}}
{{- end -}}
{{- end -}}

{{/* This release's MLflow server. */}}
{{- define "mlops-platform.mlflow.serviceUrl" -}}
{{- printf "http://%s:%s" (include "mlops-platform.names.component" (dict "ctx" . "component" "mlflow")) (include "mlops-platform.port" "mlflow") -}}
{{- end -}}

{{/* The settings the chart itself gives every flow run (the settings ConfigMap, before flowRuns.extraSettings). */}}
{{- define "mlops-platform.flowRuns.settings" -}}
MLOPS_DATASET: {{ .Values.flowRuns.dataset | quote }}
MLOPS_LANDING_URL: {{ .Values.flowRuns.landingUrl | quote }}
MLOPS_DATA_URL: {{ .Values.flowRuns.dataUrl | quote }}
MLOPS_S3_ENDPOINT_URL: {{ include "mlops-platform.s3.endpoint" . | quote }}
MLOPS_MLFLOW_TRACKING_URI: {{ include "mlops-platform.mlflow.trackingUri" . | quote }}
MLOPS_STAGE_RUNNER: {{ .Values.flowRuns.stageRunner | quote }}
MLOPS_TRAIN_DEPLOYMENT: {{ .Values.flowRuns.trainDeployment | quote }}
MLOPS_WORK_POOL: {{ .Values.worker.pool | quote }}
MLOPS_PROJECT_DIR: {{ .Values.flowRuns.projectDir | quote }}
MLOPS_GPU_IMAGE: {{ include "mlops-platform.images.ref" .Values.images.flowRunnerGpu | quote }}
{{- with .Values.flowRuns.environment }}
MLOPS_ENVIRONMENT: {{ . | quote }}
{{- end }}
MLOPS_SCORING_MODEL_NAME: {{ .Values.scoring.model.name | quote }}
MLOPS_SCORING_MODEL_VERSION: {{ .Values.scoring.model.version | quote }}
{{- if .Values.dask.enabled }}
MLOPS_TRAIN_ENGINE: "dask"
MLOPS_DASK_ADDRESS: {{ include "mlops-platform.dask.address" . | quote }}
MLOPS_DASK_WORKERS: {{ .Values.dask.workers | quote }}
{{- end }}
{{- end -}}

{{/* S3 endpoint: in-release MinIO or externalS3.endpoint. */}}
{{- define "mlops-platform.s3.endpoint" -}}
{{- if .Values.minio.enabled -}}
{{- printf "http://%s:%s" (include "mlops-platform.names.component" (dict "ctx" . "component" "minio")) (include "mlops-platform.port" "minio") -}}
{{- else -}}
{{- .Values.externalS3.endpoint -}}
{{- end -}}
{{- end -}}

{{/* Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of the flow runs (the pool template's s3_secret_name;
in-release, MinIO's `flow-runs-identity` user). */}}
{{- define "mlops-platform.s3.secretName" -}}
{{- if .Values.minio.enabled -}}
{{- include "mlops-platform.workPool.default" (dict "ctx" . "name" "s3_secret_name") -}}
{{- else -}}
{{- .Values.externalS3.existingSecret -}}
{{- end -}}
{{- end -}}

{{/* Secret of one client identity's S3 credentials, (dict "ctx" $ "role" "operator"|"mlflow"|"flow-runs"): in-release
MinIO's user of that role (flows.logic.storage_access.GRANTS), else the externalS3 Secret the user provides. */}}
{{- define "mlops-platform.s3.identitySecret" -}}
{{- if and .ctx.Values.minio.enabled (ne .role "flow-runs") -}}
{{- include "mlops-platform.names.component" (dict "ctx" .ctx "component" (printf "s3-%s" .role)) -}}
{{- else -}}
{{- include "mlops-platform.s3.secretName" .ctx -}}
{{- end -}}
{{- end -}}

{{/* The S3 identities this release's clients use: the worker's operator and the flow runs, MLflow's, the
backup and restore Jobs'. */}}
{{- define "mlops-platform.s3.roles" -}}
{{- $roles := list -}}
{{- if .Values.worker.enabled }}{{ $roles = concat $roles (list "flow-runs" "operator") }}{{ end -}}
{{- if .Values.mlflow.enabled }}{{ $roles = append $roles "mlflow" }}{{ end -}}
{{- if .Values.backup.enabled }}{{ $roles = concat $roles (list "backup" "restore") }}{{ end -}}
{{- toJson $roles -}}
{{- end -}}

{{/* Secret of MinIO's root credentials: MinIO itself and the bucket Job only. */}}
{{- define "mlops-platform.s3.rootSecret" -}}
{{- include "mlops-platform.names.component" (dict "ctx" . "component" "minio-root") -}}
{{- end -}}

{{/* The bucket of an s3:// URL of the values (s3://mlops-data/prefix -> mlops-data). */}}
{{- define "mlops-platform.s3.bucketOf" -}}
{{- regexReplaceAll "^s3://([^/]+).*$" . "${1}" -}}
{{- end -}}

{{/* Secret holding the database URLs (and, in-release, the passwords). */}}
{{- define "mlops-platform.database.secretName" -}}
{{- if not .Values.postgres.enabled -}}
{{- .Values.externalDatabase.existingSecret -}}
{{- else if .Values.postgres.existingSecret -}}
{{- .Values.postgres.existingSecret -}}
{{- else -}}
{{- include "mlops-platform.names.component" (dict "ctx" . "component" "postgres") -}}
{{- end -}}
{{- end -}}

{{/* A generated secret value kept across upgrades: (dict "ctx" $ "secret" name "key" key "length" n), base64;
an optional "prefix" goes before the random part (e.g. "admin:" of a basic-auth credential). */}}
{{- define "mlops-platform.secrets.keep" -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secret -}}
{{- if and $existing (hasKey ($existing.data | default dict) .key) -}}
{{- index $existing.data .key -}}
{{- else -}}
{{- printf "%s%s" (.prefix | default "") (randAlphaNum (int .length)) | b64enc -}}
{{- end -}}
{{- end -}}

{{/* Environment of the Prefect server and its migration initContainer. */}}
{{- define "mlops-platform.prefect.serverEnv" -}}
- name: HOME
  value: /home/prefect
- name: PREFECT_HOME
  value: /home/prefect/.prefect
- name: PREFECT_API_DATABASE_CONNECTION_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "mlops-platform.database.secretName" . }}
      key: prefect-database-url
# The initContainer migrates; the server must not race it (or its replicas) on start.
- name: PREFECT_API_DATABASE_MIGRATE_ON_START
  value: "false"
- name: PREFECT_SERVER_ANALYTICS_ENABLED
  value: "false"
{{- end -}}

{{/* NetworkPolicy peer: the flow-run pods of this release's pool (prefect-kubernetes labels each Job's pod with
its pool's name). */}}
{{- define "mlops-platform.networkPolicy.flowRuns" -}}
- podSelector:
    matchLabels:
      prefect.io/work-pool-name: {{ .Values.worker.pool | quote }}
{{- end -}}

{{/* A NetworkPolicy peer: the pods of one component of this release, (dict "ctx" $ "component" "mlflow"). */}}
{{- define "mlops-platform.networkPolicy.peer" -}}
- podSelector:
    matchLabels:
      {{- include "mlops-platform.labels.selector" . | nindent 6 }}
{{- end -}}

{{/* A NetworkPolicy admitting nothing to pods that serve nothing (their probes come from the node, which
NetworkPolicy always admits): (dict "ctx" $ "component" "prefect-worker" "matchLabels" (dict ...)). */}}
{{- define "mlops-platform.networkPolicy.noIngress" -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "mlops-platform.names.component" . }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "mlops-platform.labels.standard" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- toYaml .matchLabels | nindent 6 }}
  policyTypes: ["Ingress"]
  ingress: []
{{- end -}}

{{/* Secret with the MLflow server's admin-password and flask-secret-key. */}}
{{- define "mlops-platform.mlflow.adminSecretName" -}}
{{- if .Values.mlflow.auth.existingSecret -}}
{{- .Values.mlflow.auth.existingSecret -}}
{{- else -}}
{{- include "mlops-platform.names.component" (dict "ctx" . "component" "mlflow-admin") -}}
{{- end -}}
{{- end -}}

{{/* Secret with the flow runs' MLflow logins, <role>-username and <role>-password (the pool template's
mlflow_logins_secret). */}}
{{- define "mlops-platform.mlflow.loginsSecretName" -}}
{{- include "mlops-platform.workPool.default" (dict "ctx" . "name" "mlflow_logins_secret") -}}
{{- end -}}

{{/* The MLflow roles (flows.logic.registry_access.ROLES), whose logins the registry Job makes. */}}
{{- define "mlops-platform.mlflow.roles" -}}
{{- (index (include "mlops-platform.workPool.template" . | fromJson).variables.properties "mlflow_role").enum | toJson -}}
{{- end -}}

{{/* MLflow's auth tables (mlflow.server.auth.db.models, with their id sequences, and its migrations' version table): the backup leaves
them out and a restore leaves them alone, so the logins stay this install's (its Secrets and logins Job). */}}
{{- define "mlops-platform.backup.mlflowAuthTables" -}}
["users", "roles", "role_permissions", "user_role_assignments", "alembic_version_auth"]
{{- end -}}

{{/* The databases a backup holds: this release's Prefect and MLflow, as `<name>=<Secret key of its URL>`. */}}
{{- define "mlops-platform.backup.databases" -}}
{{- $databases := list -}}
{{- if .Values.prefectServer.enabled }}{{ $databases = append $databases "prefect" }}{{ end -}}
{{- if .Values.mlflow.enabled }}{{ $databases = append $databases "mlflow" }}{{ end -}}
{{- toJson $databases -}}
{{- end -}}

{{/* The buckets a backup holds: those the release's clients use. */}}
{{- define "mlops-platform.backup.sourceBuckets" -}}
{{- $buckets := list -}}
{{- if .Values.worker.enabled -}}
{{- $buckets = append $buckets (include "mlops-platform.s3.bucketOf" .Values.flowRuns.landingUrl) -}}
{{- $buckets = append $buckets (include "mlops-platform.s3.bucketOf" .Values.flowRuns.dataUrl) -}}
{{- end -}}
{{- if .Values.mlflow.enabled }}{{ $buckets = append $buckets .Values.mlflow.artifactsBucket }}{{ end -}}
{{- join "," ($buckets | uniq) -}}
{{- end -}}

{{/* The backups bucket when it is this release's MinIO's (no destination endpoint), else empty. */}}
{{- define "mlops-platform.backup.localBucket" -}}
{{- if and .Values.backup.enabled .Values.minio.enabled (not .Values.backup.destination.endpoint) -}}
{{- include "mlops-platform.s3.bucketOf" .Values.backup.destination.url -}}
{{- end -}}
{{- end -}}

{{/* Shell function of the backup and restore scripts: wait up to 2 min for a database to accept connections.
A new pod's first connections can be refused until the node's NetworkPolicy enforcer has added its address
(kube-router takes moments), and the database may be starting; pg_dump and pg_restore do not retry. */}}
{{- define "mlops-platform.backup.awaitDatabase" -}}
await_database() {
  tries=0
  until pg_isready --quiet --timeout=2 --dbname="$2"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then
      echo "$1: its database did not accept connections for 2 min (is it running, and does its NetworkPolicy admit this Job?)" >&2
      exit 1
    fi
    sleep 2
  done
}
{{- end -}}

{{/* Shell of the backup Job's init container (the postgres image's client tools, as the chart's uid): dump
each database in pg_dump's custom format, then prove the file restores (its table of contents reads, and a
full restore to /dev/null). The URLs are SQLAlchemy's; libpq reads them without the driver suffix. */}}
{{- define "mlops-platform.backup.dumpScript" -}}
set -eu
{{ include "mlops-platform.backup.awaitDatabase" . }}
dump() {
  name=$1; url=$(printf '%s' "$2" | sed 's/^postgresql+[a-z0-9]*:/postgresql:/'); shift 2
  await_database "$name" "$url"
  pg_dump --format=custom --no-owner --no-privileges --file="/backup/$name.dump" "$@" "$url"
  pg_restore --list "/backup/$name.dump" > /dev/null
  pg_restore --file=/dev/null "/backup/$name.dump"
  echo "$name: dumped and verified, $(wc -c < "/backup/$name.dump") bytes"
}
{{- range $name := include "mlops-platform.backup.databases" . | fromJsonArray }}
dump {{ $name }} "${{ upper $name }}_DATABASE_URL"
{{- if eq $name "mlflow" }}{{ range include "mlops-platform.backup.mlflowAuthTables" $ | fromJsonArray }} --exclude-table={{ . }} --exclude-table={{ . }}_id_seq{{ end }}{{ end }}
{{- end }}
{{- end -}}

{{/* Shell of the restore Job's container (the postgres image): each fetched dump replaces its database's
objects in one transaction; any error rolls the database back as it was. */}}
{{- define "mlops-platform.backup.restoreScript" -}}
set -eu
{{ include "mlops-platform.backup.awaitDatabase" . }}
restore() {
  name=$1; url=$(printf '%s' "$2" | sed 's/^postgresql+[a-z0-9]*:/postgresql:/')
  await_database "$name" "$url"
  pg_restore --clean --if-exists --no-owner --no-privileges --exit-on-error --single-transaction \
    --dbname="$url" "/backup/$name.dump"
  echo "$name: restored"
}
{{- range $name := include "mlops-platform.backup.databases" . | fromJsonArray }}
restore {{ $name }} "${{ upper $name }}_DATABASE_URL"
{{- end }}
{{- end -}}

{{/* Environment of the backup and restore Jobs' postgres containers: each database's URL, from its Secret. */}}
{{- define "mlops-platform.backup.databaseEnv" -}}
# The client tools run as the chart's uid, which has no home in the postgres image.
- name: HOME
  value: /tmp
{{- range $name := include "mlops-platform.backup.databases" . | fromJsonArray }}
- name: {{ upper $name }}_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "mlops-platform.database.secretName" $ }}
      key: {{ $name }}-database-url
{{- end }}
{{- end -}}

{{/* Environment of `python -m flows.backup` as (dict "ctx" $ "role" "backup"|"restore"): the live store as the
role's identity, the destination, and its own credentials when it is another store. */}}
{{- define "mlops-platform.backup.objectEnv" -}}
{{- $v := .ctx.Values -}}
{{- $identity := include "mlops-platform.s3.identitySecret" (dict "ctx" .ctx "role" .role) }}
- name: S3_ENDPOINT_URL
  value: {{ include "mlops-platform.s3.endpoint" .ctx | quote }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $identity }}
      key: AWS_ACCESS_KEY_ID
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $identity }}
      key: AWS_SECRET_ACCESS_KEY
- name: BACKUP_SOURCE_BUCKETS
  value: {{ include "mlops-platform.backup.sourceBuckets" .ctx | quote }}
- name: BACKUP_URL
  value: {{ $v.backup.destination.url | quote }}
- name: BACKUP_DATABASES
  value: {{ include "mlops-platform.backup.databases" .ctx | fromJsonArray | join "," | quote }}
- name: BACKUP_KEEP
  value: {{ $v.backup.keep | quote }}
- name: BACKUP_SNAPSHOT
  value: {{ $v.backup.restoreSnapshot | quote }}
- name: BACKUP_DIR
  value: /backup
{{- with $v.backup.destination.endpoint }}
- name: BACKUP_S3_ENDPOINT_URL
  value: {{ . | quote }}
- name: BACKUP_AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $v.backup.destination.existingSecret }}
      key: AWS_ACCESS_KEY_ID
- name: BACKUP_AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $v.backup.destination.existingSecret }}
      key: AWS_SECRET_ACCESS_KEY
{{- end }}
- name: HOME
  value: /tmp
{{- end -}}
