"""Sections 1 and 4: the embedded pipeline against the bare script, size by size, each run its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.landing import land_batch, size_label

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    seconds: float  # the work only (read, prepare, train, evaluate)
    process_seconds: float  # the whole process, interpreter and imports included
    peak_rss_bytes: int
    roc_auc: float
    frame_bytes: int | None
    children_peak_rss_bytes: int = 0


@dataclass
class SizeResult:
    rows: int
    bare: list[Run] = field(default_factory=list)
    pipeline: list[Run] = field(default_factory=list)


def run_workload(kind: str, landing_file: Path, env: dict[str, str], log: Path) -> Run:
    """One workload in a fresh interpreter; fails loudly with the log's tail."""
    result_file = log.with_suffix(".json")
    started = time.perf_counter()
    with log.open("wb") as out:
        done = subprocess.run(
            [sys.executable, "-m", "bench.workloads", kind, str(landing_file), str(result_file)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    process_seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{kind} workload failed (exit {done.returncode}):\n{log.read_text()[-3000:]}")
    measured: dict[str, Any] = json.loads(result_file.read_text())
    return Run(process_seconds=process_seconds, **measured)


def pipeline_env(base: dict[str, str], work: Path, landing_file: Path, tenant: str) -> dict[str, str]:
    """An embedded platform whose MLflow database is shared (warm), with fresh data and model names,
    so that nothing is reused from an earlier repeat."""
    return base | {
        "MLOPS_HOME": str(work / "home"),
        "MLOPS_LANDING_URL": str(landing_file.parent.parent),
        "MLOPS_DATA_URL": str(work / "data" / tenant),
        "MLOPS_EXPERIMENT_NAME": f"bench-{tenant}",
        "MLOPS_MODEL_NAME": f"bench-{tenant}",
        "MLOPS_STAGE_RUNNER": "inline",
        "MLOPS_CODE_VERSION": "bench",
    }


def measure(sizes: list[int], repeats: int, work: Path, client_env: dict[str, str]) -> list[SizeResult]:
    prefect = {name: value for name, value in client_env.items() if name.startswith("PREFECT_")}
    base = dict(os.environ) | prefect
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # Warm-up: creates the MLflow database and the Prefect flow records, as a daily user has them.
    warm = land_batch(work, min(sizes))
    run_workload("pipeline", warm, pipeline_env(base, work, warm, "warmup"), logs / "warmup.log")
    results = []
    for rows in sizes:
        landing_file = land_batch(work, rows)
        result = SizeResult(rows)
        for i in range(repeats):
            tenant = f"{size_label(rows)}-{i}"
            # Alternate the order so that drift on a shared machine hits both sides alike.
            order = ("bare", "pipeline") if i % 2 == 0 else ("pipeline", "bare")
            for kind in order:
                env = pipeline_env(base, work, landing_file, tenant) if kind == "pipeline" else base
                run = run_workload(kind, landing_file, env, logs / f"{kind}-{tenant}.log")
                getattr(result, kind).append(run)
                print(
                    f"  {kind:8} {size_label(rows):>5} #{i + 1}: {run.seconds:7.2f} s work, "
                    f"{run.peak_rss_bytes / 2**20:7.0f} MiB peak",
                    flush=True,
                )
        results.append(result)
    return results
