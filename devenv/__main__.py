"""`python -m devenv up|down` (`make up`, `make down`): the local services of one machine."""

from __future__ import annotations

import argparse
import sys

from devenv.services import LocalServices
from flows.settings import get_settings


def up() -> int:
    settings = get_settings()
    local = LocalServices(settings.home_dir / "services", prefect_database=settings.prefect_database)
    print(f"starting local services (logs and pid files in {local.root}) ...", flush=True)
    pids = local.up()
    print("running: " + ", ".join(f"{name} (pid {pid})" for name, pid in pids.items()))
    login = local.root / "prefect.credentials"
    print(f"  Prefect UI  {local.prefect_api_url.removesuffix('/api')} (it asks for the login in {login})")
    print(f"  MLflow UI   {local.mlflow_url}")
    print(f"  MinIO       {local.minio_url} (console http://127.0.0.1:{local.ports.minio_console})")
    print(f"Point a shell at them: source {local.root / 'env.sh'} (or: make shell)")
    print("Next: make deploy-flows && make trigger BATCH=1")
    return 0


def down() -> int:
    stopped = LocalServices(get_settings().home_dir / "services").down()
    print("stopped: " + (", ".join(stopped) or "nothing was running"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devenv", description=__doc__)
    parser.add_argument("command", choices=("up", "down"))
    args = parser.parse_args(argv)
    return up() if args.command == "up" else down()


if __name__ == "__main__":
    sys.exit(main())
