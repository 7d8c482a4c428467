"""The local engine's memory preflight: the cgroup limit it reads and the estimate it compares with it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flows.adapters.memory import limit_bytes, memory_limit, rss_bytes
from flows.logic.preflight import cluster_refusal, fit_memory, memory_refusal

GIB = 1024**3


@pytest.mark.parametrize(
    ("text", "expected"),
    [("max\n", None), ("4294967296\n", 4 * GIB), ("9223372036854771712", None), ("0", None)],
)
def test_a_limit_file_in_bytes(text: str, expected: int | None) -> None:
    assert limit_bytes(text) == expected


def test_cgroup_v2_and_v1_limits_are_read(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text("1073741824\n")
    assert memory_limit(tmp_path) == GIB
    v1 = tmp_path / "v1"
    (v1 / "memory").mkdir(parents=True)
    (v1 / "memory" / "memory.limit_in_bytes").write_text(str(2 * GIB))
    assert memory_limit(v1) == 2 * GIB


def test_no_cgroup_file_or_a_garbled_one_means_no_limit(tmp_path: Path) -> None:
    assert memory_limit(tmp_path) is None
    (tmp_path / "memory.max").write_text("lots\n")
    assert memory_limit(tmp_path) is None


def test_what_fits_passes_and_what_does_not_says_what_to_do() -> None:
    assert memory_refusal(GIB, GIB, 4 * GIB, 1_000_000, 1073.7) is None
    assert memory_refusal(100 * GIB, GIB, None, 1_000_000, 1073.7) is None  # no limit known
    message = memory_refusal(4 * GIB, GIB, 4 * GIB, 4_000_000, 1073.7)
    assert message is not None
    assert "4,000,000 rows" in message and "5.00 GiB" in message and "4.00 GiB" in message
    assert "MLOPS_TRAIN_ENGINE=dask" in message and "dask.enabled=true" in message


# Run apart: the peak of a fit in a fresh process, against the estimate from its first rows.
_MEASURE = """
import json, sys, threading, time
from pathlib import Path
from flows.adapters.memory import rss_bytes
from flows.adapters.parquet import read_parquet, read_parquet_head, write_parquet
from flows.feature_code import derive, derived_function
from flows.logic.demo import generate_batch
from flows.logic.features import build_features, prepare_dataset
from flows.logic.preflight import fit_memory
from flows.logic.training import fit, training_params
from tests.definitions import LOAN, loan

rows, path = int(sys.argv[1]), Path(sys.argv[2])
frame, _ = prepare_dataset([generate_batch(1, rows)], loan())
write_parquet(frame, path)
del frame
function = derived_function(loan(), LOAN.parent)
sample = read_parquet_head(path, 2000)
per_row = float(sample.memory_usage(deep=True, index=False).sum()) / len(sample)
features = len(build_features(sample, loan(), derive(function, sample, loan())).columns)
estimate = fit_memory(rows, per_row, features)
base, peak, done = rss_bytes(), [0], []
def watch():
    while not done:
        peak[0] = max(peak[0], rss_bytes())
        time.sleep(0.005)
watcher = threading.Thread(target=watch)
watcher.start()
data = read_parquet(path)
fit(data, loan(), training_params(loan(), threads=1), derive(function, data, loan()))
done.append(1)
watcher.join()
print(json.dumps({"estimate": estimate, "growth": peak[0] - base}))
"""


def test_a_cluster_whose_workers_hold_the_fit_together_passes_and_one_that_cannot_says_what_to_do() -> None:
    assert cluster_refusal(3 * GIB, [2 * GIB, 2 * GIB], 1_000_000, 3221.2) is None
    assert cluster_refusal(100 * GIB, [2 * GIB, 0], 1_000_000, 3221.2) is None  # a worker without a limit
    assert cluster_refusal(100 * GIB, [], 1_000_000, 3221.2) is None
    message = cluster_refusal(5 * GIB, [2 * GIB, 2 * GIB], 1_600_000, 3355.4)
    assert message is not None
    assert "training 1,600,000 rows on the Dask cluster needs about 5.00 GiB" in message
    assert "2 workers together, 4.00 GiB" in message
    assert "dask.workers" in message and "dask.worker.resources.limits.memory" in message


def test_the_estimate_covers_what_a_fit_grows_by_without_doubling_it(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, "300000", str(tmp_path / "d.parquet")],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    assert measured["growth"] <= measured["estimate"] <= 2 * measured["growth"], measured


def test_the_estimate_grows_with_rows_and_features() -> None:
    assert fit_memory(2_000, 100.0, 10) == 2 * fit_memory(1_000, 100.0, 10)
    assert fit_memory(1_000, 100.0, 20) > fit_memory(1_000, 100.0, 10)
    assert rss_bytes() > 0
