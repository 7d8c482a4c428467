"""Should back up the databases and buckets of the release on a schedule, one at a time, each Job with its own
least-privilege identity, and render the restore Job's template suspended; off-site, with the credentials
the user provides."""

from __future__ import annotations

from typing import Any

from mlflow.server.auth.db.models import Base

from tests.charts.chart import Json, Rendered, containers, pod_spec, render

BACKUP, RESTORE = "mlops-platform-backup", "mlops-platform-restore"


def env_of(container: Json) -> dict[str, Any]:
    return {entry["name"]: entry.get("value", entry.get("valueFrom")) for entry in container["env"]}


def container(chart: Rendered, cronjob: str, name: str) -> Json:
    [found] = [c for c in containers(chart.get("CronJob", cronjob)) if c["name"] == name]
    return found


def test_should_run_one_backup_at_a_time_on_the_schedule_and_keep_a_short_history(
    default_chart: Rendered,
) -> None:
    spec = default_chart.get("CronJob", BACKUP)["spec"]
    assert (spec["schedule"], spec["concurrencyPolicy"]) == ("17 3 * * *", "Forbid")
    assert spec["successfulJobsHistoryLimit"] <= 3 and spec["failedJobsHistoryLimit"] <= 3
    assert spec["jobTemplate"]["spec"]["ttlSecondsAfterFinished"] > 0
    restore = default_chart.get("CronJob", RESTORE)["spec"]
    assert restore["suspend"] is True  # only `kubectl create job --from=cronjob/...` runs it
    assert restore["jobTemplate"]["spec"]["backoffLimit"] == 0  # a failed restore is read, not retried


def test_should_dump_and_verify_the_databases_before_the_upload_starts(default_chart: Rendered) -> None:
    spec = pod_spec(default_chart.get("CronJob", BACKUP))
    [dump] = spec["initContainers"]
    script = dump["command"][-1]
    assert dump["image"].startswith("postgres:")
    assert "pg_dump --format=custom --no-owner --no-privileges" in script
    assert 'pg_restore --list "/backup/$name.dump"' in script and "pg_restore --file=/dev/null" in script
    env = env_of(dump)
    for name in ("prefect", "mlflow"):
        assert f'dump {name} "${name.upper()}_DATABASE_URL"' in script
        assert env[f"{name.upper()}_DATABASE_URL"]["secretKeyRef"] == {
            "name": "mlops-platform-postgres",
            "key": f"{name}-database-url",
        }
    [upload] = spec["containers"]
    assert upload["command"] == ["python", "-m", "flows.backup", "create"]
    mounts = {c["name"]: {m["name"]: m["mountPath"] for m in c["volumeMounts"]} for c in (dump, upload)}
    assert mounts["dump"]["backup"] == mounts["upload"]["backup"] == "/backup"


def test_should_leave_mlflows_logins_out_of_the_backup(default_chart: Rendered) -> None:
    """The restored install keeps its own logins (its Secrets, its logins Job): MLflow's auth tables, all of
    them as this MLflow defines them, are not in the dump."""
    script = container(default_chart, BACKUP, "dump")["command"][-1]
    [mlflow_line] = [line for line in script.splitlines() if line.startswith("dump mlflow")]
    excluded = {part.split("=", 1)[1] for part in mlflow_line.split() if part.startswith("--exclude-table=")}
    assert excluded >= set(Base.metadata.tables) | {"alembic_version_auth"}
    assert {"experiments", "runs", "registered_models", "model_versions"}.isdisjoint(excluded)


def test_should_restore_each_database_in_one_transaction_after_fetching_the_snapshot(
    default_chart: Rendered,
) -> None:
    spec = pod_spec(default_chart.get("CronJob", RESTORE))
    [fetch] = spec["initContainers"]
    assert fetch["command"] == ["python", "-m", "flows.backup", "fetch"]
    [restore] = spec["containers"]
    script = restore["command"][-1]
    assert "--clean --if-exists --no-owner --no-privileges --exit-on-error --single-transaction" in script
    assert (
        'restore prefect "$PREFECT_DATABASE_URL"' in script
        and 'restore mlflow "$MLFLOW_DATABASE_URL"' in script
    )


def test_should_give_each_job_its_own_identity_and_no_root(default_chart: Rendered) -> None:
    for cronjob, name, role in ((BACKUP, "upload", "backup"), (RESTORE, "fetch", "restore")):
        env = env_of(container(default_chart, cronjob, name))
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert env[key]["secretKeyRef"] == {"name": f"mlops-platform-s3-{role}", "key": key}
        assert env["BACKUP_SOURCE_BUCKETS"] == "mlops-landing,mlops-data,mlflow-artifacts"
        assert env["BACKUP_URL"] == "s3://mlops-backups"
        assert "BACKUP_S3_ENDPOINT_URL" not in env  # the release's own MinIO
    for role in ("backup", "restore"):
        annotations = default_chart.get("Secret", f"mlops-platform-s3-{role}")["metadata"]["annotations"]
        assert annotations["helm.sh/resource-policy"] == "keep"


def test_should_keep_backups_off_site_with_the_credentials_the_user_provides(helm: str) -> None:
    chart = render(
        helm,
        set_values={
            "backup.destination.url": "s3://company-backups/mlops/prod",
            "backup.destination.endpoint": "https://s3.backups.example.com",
            "backup.destination.existingSecret": "offsite-backups",
        },
    )
    for cronjob, name in ((BACKUP, "upload"), (RESTORE, "fetch")):
        env = env_of(container(chart, cronjob, name))
        assert env["BACKUP_S3_ENDPOINT_URL"] == "https://s3.backups.example.com"
        assert env["BACKUP_AWS_SECRET_ACCESS_KEY"]["secretKeyRef"]["name"] == "offsite-backups"
    bucket_job = {
        e["name"]: e.get("value")
        for c in containers(chart.get("Job", "mlops-platform-minio-buckets"))
        for e in c["env"]
    }
    assert "BACKUPS_BUCKET" not in bucket_job and "company-backups" not in bucket_job["BUCKETS"]


def test_should_back_up_what_each_install_runs(helm: str) -> None:
    for values, databases, buckets in (
        ("infra/registry/values.yaml", ["mlflow"], "mlflow-artifacts"),
        ("infra/environments/prod/values.yaml", ["prefect"], "mlops-landing,mlops-data"),
    ):
        chart = render(helm, (values,))
        script = container(chart, BACKUP, "dump")["command"][-1]
        assert [line.split()[1] for line in script.splitlines() if line.startswith("dump ")] == databases
        assert env_of(container(chart, BACKUP, "upload"))["BACKUP_SOURCE_BUCKETS"] == buckets


def test_should_render_no_backup_when_switched_off(helm: str) -> None:
    chart = render(helm, set_values={"backup.enabled": "false"})
    assert chart.of_kind("CronJob") == []
    assert "mlops-platform-s3-backup" not in chart.names("Secret")
