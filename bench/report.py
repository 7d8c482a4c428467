"""Turn the measurements into the result keys, a printed table and the scale plot."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from bench.datapath import Transfers
from bench.landing import size_label
from bench.latency import Latencies
from bench.overhead import SizeResult
from bench.stats import loglog_slope, median, megabytes_per_second, percentile, ratio
from bench.validation import Validation

# What the issue aims for: (key, comparison, bound).
AIMS = {
    "overhead_ratio_1m": ("<=", 1.15),
    "dvc_pull_vs_boto3": (">=", 0.8),
    "rss_vs_bare": ("<=", 1.3),
    "scale_slope": ("<=", 1.1),
}


# What each key measures; an `overhead_ratio_<size>` key is the first one's meaning at that size.
MEANINGS = {
    "overhead_ratio": "embedded `training_pipeline(1)` over a bare script (read the CSV, the same features, "
    "split, XGBoost, holdout metric, all in memory), work time",
    "scale_slope": "log-log slope of the pipeline's time over the two largest sizes",
    "rss_vs_bare": "the pipeline's peak RSS over the bare script's, largest size",
    "rss_over_df": "the pipeline's peak RSS over the raw frame's size, largest size",
    "dvc_push_mb_s": "`dvc add` + `dvc push` of the dataset to MinIO, MB/s",
    "dvc_pull_mb_s": "`dvc pull` of the dataset by md5 from MinIO, MB/s",
    "boto3_upload_mb_s": "boto3 `upload_file` of the same file, MB/s",
    "boto3_download_mb_s": "boto3 `download_file` of the same file, MB/s",
    "dvc_push_vs_boto3": "DVC's push rate over boto3's upload rate",
    "dvc_pull_vs_boto3": "DVC's pull rate over boto3's download rate",
    "stage_latency_p50_s": "a stage flow run's creation to its code starting, process worker, median (s)",
    "stage_latency_p95_s": "the same, 95th percentile (s)",
    "bare_import_s": "a bare `import` of the stage's module in a new interpreter (s)",
    "stage_latency_vs_bare_import": "stage latency's median over the bare import",
    "pipeline_vs_dvc_repro": "the pipeline over the same stages as a `dvc repro` + `dvc push` pipeline "
    "([bench/dvc_repro/dvc.yaml](../bench/dvc_repro/dvc.yaml)), whole processes",
    "dvc_repro_rows": "rows of that comparison",
    "validation_rules_seconds": "the definition's pandera rules alone on one batch (s)",
    "cross_batch_seconds": "looking a batch's ids and row hashes up in one earlier batch's index (s)",
    "cross_batch_10x_seconds": "the same in ten earlier batches' indexes (s)",
    "validation_vs_parse": "every check of a batch (rules, conform, index, profile, cross-batch lookups, "
    "data report) over parsing its CSV",
    "validation_rows": "rows of the validation measurements",
}


def meaning(key: str) -> str:
    return MEANINGS.get(key) or MEANINGS.get(key.rsplit("_", 1)[0], "")


def benchmarks_page(results: dict[str, Any], generated: str) -> str:
    """docs/benchmarks.md from a run's results: every key with its meaning and aim, and how it was run."""
    m, config = results["machine"], results["config"]
    rows = [
        f"| `{key}` | {meaning(key)} | {value:.3f} | {verdict(key, value).removeprefix('aim ')} |"
        for key, value in results["keys"].items()
    ]
    return "\n".join(
        [
            "# Benchmarks",
            "",
            generated,
            "",
            "`make bench` writes `bench/results/latest.json` and `scale.png`; "
            "`make docs BENCH_RESULTS=bench/results/latest.json` publishes them as this page. Every figure "
            "is a ratio against a baseline measured in the same run, on the same data, each workload in its "
            "own process (so its peak RSS is its own), the sides alternating so that drift hits both; "
            f"medians of {config['repeats']}. `BENCH_5M=1` adds 5,000,000 rows; `BENCH_SIZES`, "
            "`BENCH_REPEATS` and `BENCH_LATENCY_RUNS` tune it. Both sides train the same model: the smoke "
            "test (`tests/integration/test_bench.py`, tiny sizes) checks that their holdout metrics are "
            "equal.",
            "",
            f"This run: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, {m['system']}, Python "
            f"{m['python']}; sizes {', '.join(f'{n:,}' for n in config['sizes'])} rows; "
            f"{results['total_seconds']:.0f} s in all.",
            "",
            "| key | what it measures | value | aim |",
            "|---|---|---|---|",
            *rows,
            "",
            "![time and peak memory against rows](benchmarks/scale.png)",
            "",
        ]
    )


def overhead_keys(sizes: list[SizeResult]) -> dict[str, float]:
    """Per size: pipeline work time over the bare script's (medians). Then, over the two largest sizes,
    the log-log slope of the pipeline's time (fixed costs flatten it at small sizes), and at the largest
    size the pipeline's peak RSS over the bare script's and over the raw dataframe's size."""
    keys = {
        f"overhead_ratio_{size_label(s.rows)}": ratio(
            median([r.seconds for r in s.pipeline]), median([r.seconds for r in s.bare])
        )
        for s in sizes
    }
    largest = sizes[-2:]
    keys["scale_slope"] = loglog_slope(
        [s.rows for s in largest], [median([r.seconds for r in s.pipeline]) for s in largest]
    )
    top = sizes[-1]
    pipeline_rss = median([r.peak_rss_bytes for r in top.pipeline])
    keys["rss_vs_bare"] = ratio(pipeline_rss, median([r.peak_rss_bytes for r in top.bare]))
    frame_bytes = [r.frame_bytes for r in top.bare if r.frame_bytes]
    keys["rss_over_df"] = ratio(pipeline_rss, median(frame_bytes))
    return keys


def transfer_keys(transfers: Transfers) -> dict[str, float]:
    def rate(seconds: list[float]) -> float:
        return megabytes_per_second(transfers.size_bytes, median(seconds))

    return {
        "dvc_push_mb_s": rate(transfers.dvc_push),
        "dvc_pull_mb_s": rate(transfers.dvc_pull),
        "boto3_upload_mb_s": rate(transfers.boto3_upload),
        "boto3_download_mb_s": rate(transfers.boto3_download),
        "dvc_push_vs_boto3": ratio(rate(transfers.dvc_push), rate(transfers.boto3_upload)),
        "dvc_pull_vs_boto3": ratio(rate(transfers.dvc_pull), rate(transfers.boto3_download)),
    }


def latency_keys(latencies: Latencies) -> dict[str, float]:
    p50 = percentile(latencies.stage_start, 50)
    return {
        "stage_latency_p50_s": p50,
        "stage_latency_p95_s": percentile(latencies.stage_start, 95),
        "bare_import_s": median(latencies.bare_import),
        "stage_latency_vs_bare_import": ratio(p50, median(latencies.bare_import)),
    }


def dvc_repro_keys(pipeline: SizeResult, dvc_repro_seconds: list[float]) -> dict[str, float]:
    """Whole processes on both sides: interpreter starts and imports are part of either way."""
    return {
        "pipeline_vs_dvc_repro": ratio(
            median([r.process_seconds for r in pipeline.pipeline]), median(dvc_repro_seconds)
        ),
        "dvc_repro_rows": float(pipeline.rows),
    }


def validation_keys(validation: Validation) -> dict[str, float]:
    """Seconds of each check of one batch, and all of them against parsing the batch once."""
    checks = (
        validation.rules + validation.conform + validation.index + validation.cross_batch + validation.report
    )
    return {
        "validation_rules_seconds": validation.rules,
        "cross_batch_seconds": validation.cross_batch,
        "cross_batch_10x_seconds": validation.cross_batch_10x,
        "validation_vs_parse": ratio(checks, validation.parse),
        "validation_rows": float(validation.rows),
    }


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in cpuinfo.read_text().splitlines()
                if ln.startswith("model name")
            ),
            "",
        )
    meminfo = Path("/proc/meminfo")
    total = meminfo.read_text().split()[1] if meminfo.exists() else "0"
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(int(total) / 2**20, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def verdict(key: str, value: float) -> str:
    if key not in AIMS:
        return ""
    op, bound = AIMS[key]
    met = value <= bound if op == "<=" else value >= bound
    return f"aim {op} {bound}: {'met' if met else 'missed'}"


def table(keys: dict[str, float]) -> str:
    width = max(len(k) for k in keys)
    return "\n".join(f"{k:<{width}}  {v:10.3f}  {verdict(k, v)}".rstrip() for k, v in keys.items())


def plot(sizes: list[SizeResult], path: Path) -> None:
    """Wall time and peak RSS against rows, log-log, pipeline and bare script side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [s.rows for s in sizes]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for kind in ("pipeline", "bare"):
        left.plot(rows, [median([r.seconds for r in getattr(s, kind)]) for s in sizes], "o-", label=kind)
        right.plot(
            rows,
            [median([r.peak_rss_bytes for r in getattr(s, kind)]) / 2**20 for s in sizes],
            "o-",
            label=kind,
        )
    for axis, label in ((left, "wall time (s)"), (right, "peak RSS (MiB)")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("rows")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    fig.suptitle("training_pipeline(1) embedded vs bare XGBoost script")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
