"""Real services as local processes, started once per test session: MinIO and an MLflow server."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} died (exit {process.returncode}); log:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} not up after {timeout}s; log:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def minio_binary() -> str:
    found = shutil.which("minio") or str(REPO / "bin" / "minio")
    if not Path(found).exists():
        raise RuntimeError("no minio binary: run `make tools` (it builds bin/minio)")
    return found


@dataclass
class Minio:
    endpoint: str
    access_key: str
    secret_key: str
    process: subprocess.Popen[bytes]
    data_dir: Path

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
        )

    def stop(self) -> None:
        stop(self.process)

    def start(self) -> None:
        """(Re)start on the same address and data, e.g. after a fault test stopped it."""
        self.process = _spawn_minio(self.endpoint, self.access_key, self.secret_key, self.data_dir)


def _spawn_minio(endpoint: str, access_key: str, secret_key: str, data_dir: Path) -> subprocess.Popen[bytes]:
    address = endpoint.removeprefix("http://")
    log = data_dir.parent / "minio.log"
    env = {
        **os.environ,
        "MINIO_ROOT_USER": access_key,
        "MINIO_ROOT_PASSWORD": secret_key,
        "MINIO_BROWSER": "off",
        "MINIO_UPDATE": "off",
    }
    process = subprocess.Popen(
        [minio_binary(), "server", str(data_dir), "--address", address, "--quiet"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    wait_http(f"{endpoint}/minio/health/live", process, log)
    return process


def start_minio(root: Path, buckets: list[str]) -> Minio:
    data_dir = root / "minio-data"
    data_dir.mkdir(parents=True)
    endpoint = f"http://127.0.0.1:{free_port()}"
    access_key, secret_key = "test-" + secrets.token_hex(6), secrets.token_urlsafe(24)
    minio = Minio(
        endpoint, access_key, secret_key, _spawn_minio(endpoint, access_key, secret_key, data_dir), data_dir
    )
    client = minio.client()
    for bucket in buckets:
        client.create_bucket(Bucket=bucket)
    return minio


@dataclass
class MlflowServer:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        stop(self.process)


def start_mlflow(root: Path, minio: Minio, bucket: str) -> MlflowServer:
    """MLflow with a SQLite backend, proxying artifacts to MinIO (clients never see S3)."""
    port = free_port()
    log = root / "mlflow.log"
    env = {
        **os.environ,
        "MLFLOW_S3_ENDPOINT_URL": minio.endpoint,
        "AWS_ACCESS_KEY_ID": minio.access_key,
        "AWS_SECRET_ACCESS_KEY": minio.secret_key,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--serve-artifacts",
            "--artifacts-destination",
            f"s3://{bucket}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=root,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", process, log, timeout=180)
    return MlflowServer(url, process)
