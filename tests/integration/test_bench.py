"""`make bench` smoke run: every section on tiny data, against real MinIO, Prefect and DVC.

No timing is asserted: only that each section ran and produced the keys the README quotes.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KEYS = (
    "overhead_ratio_2k",
    "dvc_pull_vs_boto3",
    "dvc_push_vs_boto3",
    "stage_latency_p50_s",
    "stage_latency_p95_s",
    "scale_slope",
    "rss_vs_bare",
    "rss_over_df",
    "pipeline_vs_dvc_repro",
    "validation_rules_seconds",
    "cross_batch_seconds",
    "cross_batch_10x_seconds",
    "validation_vs_parse",
)


@pytest.mark.timeout(900)
def test_bench_quick_run_writes_every_key_and_the_plot(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "latest.json").read_text())
    keys = results["keys"]
    missing = [k for k in KEYS if k not in keys]
    assert not missing, f"missing keys: {missing}"
    assert all(math.isfinite(keys[k]) and keys[k] > 0 for k in KEYS if k != "scale_slope")
    assert len(results["measurements"]["latency"]["stage_start"]) == results["config"]["latency_runs"]
    # Both sides of every comparison trained the same model on the same data.
    for size in results["measurements"]["sizes"]:
        aucs = {round(run["roc_auc"], 9) for run in size["bare"] + size["pipeline"]}
        assert len(aucs) == 1, f"{size['rows']} rows: bare and pipeline models differ: {aucs}"
    assert (tmp_path / "scale.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "overhead_ratio_2k" in done.stdout
