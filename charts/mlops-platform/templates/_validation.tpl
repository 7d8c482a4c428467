{{/* Fails the render on contradictory values; each message names the values path to fix. */}}
{{- define "mlops-platform.validation.all" -}}
{{- $v := .Values -}}
{{- if and (not $v.postgres.enabled) (or $v.prefectServer.enabled $v.mlflow.enabled) -}}
{{- if not $v.externalDatabase.existingSecret -}}
{{- fail "postgres.enabled is false: set externalDatabase.existingSecret to a Secret with keys prefect-database-url and mlflow-database-url (or set postgres.enabled=true)" -}}
{{- end -}}
{{- end -}}
{{- if and (not $v.minio.enabled) (or $v.worker.enabled $v.mlflow.enabled) -}}
{{- if not $v.externalS3.endpoint -}}
{{- fail "minio.enabled is false: set externalS3.endpoint (or set minio.enabled=true)" -}}
{{- end -}}
{{- if not $v.externalS3.existingSecret -}}
{{- fail "minio.enabled is false: set externalS3.existingSecret to a Secret with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" -}}
{{- end -}}
{{- end -}}
{{- if $v.backup.enabled -}}
{{- if and $v.backup.destination.endpoint (not $v.backup.destination.existingSecret) -}}
{{- fail "backup.destination.endpoint is set: set backup.destination.existingSecret to a Secret with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY that may write backup.destination.url" -}}
{{- end -}}
{{- if and (not $v.minio.enabled) (not $v.externalS3.endpoint) (not $v.backup.destination.endpoint) -}}
{{- fail "backup.enabled is true and this release has no object store: set backup.destination.endpoint and backup.destination.existingSecret (or set backup.enabled=false)" -}}
{{- end -}}
{{- if not (or $v.prefectServer.enabled $v.mlflow.enabled) -}}
{{- fail "backup.enabled is true and this release runs neither the Prefect server nor MLflow: nothing to back up, set backup.enabled=false" -}}
{{- end -}}
{{- end -}}
{{- if and $v.dask.enabled (not $v.worker.enabled) -}}
{{- fail "dask.enabled is true and worker.enabled is false: no flow run of this release would train on the Dask cluster; set worker.enabled=true (or dask.enabled=false)" -}}
{{- end -}}
{{- if and $v.worker.enabled (not $v.prefectServer.enabled) (not $v.worker.apiUrl) -}}
{{- fail "worker.enabled is true and prefectServer.enabled is false: set worker.apiUrl to the Prefect API URL" -}}
{{- end -}}
{{- if and $v.worker.enabled (not $v.prefectServer.enabled) (not $v.prefectServer.auth.existingSecret) -}}
{{- fail "worker.enabled is true and prefectServer.enabled is false: set prefectServer.auth.existingSecret to a Secret whose key auth-string holds the external Prefect server's credential (user:password)" -}}
{{- end -}}
{{- if and $v.worker.enabled (not $v.mlflow.enabled) (not $v.flowRuns.mlflowTrackingUri) -}}
{{- fail "worker.enabled is true and mlflow.enabled is false: set flowRuns.mlflowTrackingUri to the MLflow server URL" -}}
{{- end -}}
{{- if $v.worker.enabled -}}
{{- $s3Secret := include "mlops-platform.workPool.default" (dict "ctx" . "name" "s3_secret_name") -}}
{{- if and (not $v.minio.enabled) (ne $v.externalS3.existingSecret $s3Secret) -}}
{{- fail (printf "externalS3.existingSecret must be %q, the work pool template's s3_secret_name default that every flow-run pod reads" $s3Secret) -}}
{{- end -}}
{{- $chartSettings := include "mlops-platform.flowRuns.settings" . | fromYaml -}}
{{- range $name, $value := $v.flowRuns.extraSettings -}}
{{- if regexMatch "KEY|SECRET|PASSWORD|TOKEN" $name -}}
{{- fail (printf "flowRuns.extraSettings.%s looks like a credential: settings land in a ConfigMap, put it in a Secret instead" $name) -}}
{{- end -}}
{{- if hasKey $chartSettings $name -}}
{{- fail (printf "flowRuns.extraSettings.%s is set by the chart itself: use the value it comes from (e.g. scoring.model.version for MLOPS_SCORING_MODEL_VERSION) instead" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
