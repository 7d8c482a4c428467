"""`python -m bench [--quick]`: every section, then bench/results/latest.json, scale.png and a table.

Sizes and repeats come from the environment so `make bench` can be tuned without editing code:
BENCH_SIZES (rows, comma separated; default 10000,100000,1000000), BENCH_5M=1 (adds 5,000,000),
BENCH_REPEATS (3), BENCH_TRANSFER_REPEATS (5), BENCH_LATENCY_RUNS (20), BENCH_DVC_ROWS (100000).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from prefect.settings import temporary_settings

from bench import datapath, dvc_repro, latency, overhead, report, validation
from bench.landing import land_batch
from devenv.services import LocalServices, Ports
from flows.adapters.datasets import load_definition
from flows.adapters.landing import write_landing_batch
from flows.logic.demo import generate_batch
from flows.logic.features import prepare_dataset
from flows.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Config:
    sizes: list[int]
    repeats: int
    transfer_repeats: int
    latency_runs: int
    dvc_rows: int
    validation_rows: int

    @classmethod
    def from_env(cls, quick: bool) -> Config:
        if quick:  # the smoke test: every section once, on tiny data
            return cls(
                sizes=[2000, 4000],
                repeats=1,
                transfer_repeats=1,
                latency_runs=2,
                dvc_rows=2000,
                validation_rows=2000,
            )
        sizes = [int(s) for s in os.environ.get("BENCH_SIZES", "10000,100000,1000000").split(",")]
        if os.environ.get("BENCH_5M") == "1":
            sizes.append(5_000_000)
        return cls(
            sizes=sorted(set(sizes)),
            repeats=int(os.environ.get("BENCH_REPEATS", "3")),
            transfer_repeats=int(os.environ.get("BENCH_TRANSFER_REPEATS", "5")),
            latency_runs=int(os.environ.get("BENCH_LATENCY_RUNS", "20")),
            dvc_rows=int(os.environ.get("BENCH_DVC_ROWS", "100000")),
            validation_rows=int(os.environ.get("BENCH_VALIDATION_ROWS", "1000000")),
        )


def section(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.perf_counter()


def run(config: Config, work: Path, out: Path) -> dict[str, Any]:
    if len(config.sizes) < 2:
        raise SystemExit("the scale slope needs at least two sizes (BENCH_SIZES)")
    clean_env = dict(os.environ)
    services = LocalServices(work / "services", Ports.free())
    keys: dict[str, float] = {}
    seconds: dict[str, float] = {}
    try:
        started = section("services: MinIO, Prefect server, process worker")
        services.start_minio()
        services.start_prefect()
        services.start_worker()
        seconds["services"] = time.perf_counter() - started
        client_env = clean_env | services.client_env()
        with temporary_settings(updates=services.prefect_settings()):
            started = section("1+4. embedded pipeline vs bare script, by size")
            sizes = (
                config.sizes if config.dvc_rows in config.sizes else sorted([*config.sizes, config.dvc_rows])
            )
            by_size = overhead.measure(sizes, config.repeats, work / "overhead", services.client_env())
            scale = [s for s in by_size if s.rows in config.sizes]
            keys |= report.overhead_keys(scale)
            report.plot(scale, out / "scale.png")
            seconds["overhead"] = time.perf_counter() - started

            os.environ.update(services.client_env())  # DVC, s3fs and the deployments read the env
            started = section("2. data path: dvc push/pull vs boto3, same bytes, same MinIO")
            dataset = _dataset_file(min(max(config.sizes), 1_000_000), work)
            s3 = services.s3_client()
            transfers = datapath.measure(
                dataset, config.transfer_repeats, work / "transfers", services.minio_url, s3
            )
            keys |= report.transfer_keys(transfers)
            seconds["transfers"] = time.perf_counter() - started

            started = section("3. stage scheduling latency with the process worker")
            write_landing_batch(generate_batch(1, 1000), 1, "csv", Settings())
            latency.deploy_stage(client_env)
            latencies = latency.measure(config.latency_runs, batch_number=1)
            keys |= report.latency_keys(latencies)
            seconds["latency"] = time.perf_counter() - started

            started = section("5. the same job as a `dvc repro` pipeline")
            landing_file = land_batch(work / "overhead", config.dvc_rows)
            repro = []
            for i in range(config.repeats):
                took, auc = dvc_repro.run_once(
                    landing_file, work / "dvc-repro" / f"p{i}", work / "dvc-repro.log"
                )
                print(f"  dvc repro + push #{i + 1}: {took:.2f} s (holdout ROC AUC {auc:.4f})", flush=True)
                repro.append(took)
            pipeline_at = next(s for s in by_size if s.rows == config.dvc_rows)
            keys |= report.dvc_repro_keys(pipeline_at, repro)
            seconds["dvc_repro"] = time.perf_counter() - started

            started = section("6. checking a batch (column rules, conform, cross-batch) vs parsing it")
            checked = validation.measure(config.validation_rows, max(config.repeats, 3))
            keys |= report.validation_keys(checked)
            seconds["validation"] = time.perf_counter() - started
    finally:
        services.down()
        os.environ.clear()
        os.environ.update(clean_env)
    return {
        "machine": report.machine(),
        "config": asdict(config),
        "keys": keys,
        "section_seconds": seconds,
        "measurements": {
            "sizes": [asdict(s) for s in by_size],
            "transfers": asdict(transfers),
            "latency": asdict(latencies),
            "dvc_repro_seconds": repro,
            "validation": asdict(checked),
        },
    }


def _dataset_file(rows: int, work: Path) -> Path:
    """A prepared dataset as the pipeline versions it: the bytes the data path moves."""
    path = work / f"dataset-{rows}.parquet"
    frame, _ = prepare_dataset([generate_batch(1, rows)], load_definition("loan-default", Settings()))
    frame.to_parquet(path, index=False)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where latest.json and scale.png go")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs) for a look")
    args = parser.parse_args(argv)
    config = Config.from_env(args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    started = time.perf_counter()
    try:
        results = run(config, work, args.out)
    finally:
        if args.keep:
            print(f"scratch kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["total_seconds"] = time.perf_counter() - started
    (args.out / "latest.json").write_text(json.dumps(results, indent=2))
    machine = results["machine"]
    print(f"\n== results ({machine['cpus']} CPUs, {machine['cpu_model']}, {machine['memory_gib']} GiB)")
    print(report.table(results["keys"]))
    took = results["total_seconds"]
    print(f"\nwritten: {args.out / 'latest.json'}, {args.out / 'scale.png'}; took {took:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
