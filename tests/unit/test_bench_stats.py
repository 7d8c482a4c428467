"""The benchmark's arithmetic: medians, percentiles, the scale slope and the result keys."""

from __future__ import annotations

import math

import pytest

from bench.landing import size_label
from bench.overhead import Run, SizeResult
from bench.report import overhead_keys, verdict
from bench.stats import loglog_slope, median, megabytes_per_second, percentile, ratio


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 21)]  # 1..20
    assert percentile(values, 50) == pytest.approx(10.5)
    assert percentile(values, 95) == pytest.approx(19.05)
    assert percentile([3.0], 95) == 3.0


def test_percentile_rejects_empty_and_out_of_range() -> None:
    with pytest.raises(ValueError, match="no measurements"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"\[0, 100\]"):
        percentile([1.0], 101)


def test_slope_is_one_for_linear_and_half_for_square_root() -> None:
    sizes = [1e4, 1e5, 1e6]
    assert loglog_slope(sizes, [2e-4 * s for s in sizes]) == pytest.approx(1.0)
    assert loglog_slope(sizes, [math.sqrt(s) for s in sizes]) == pytest.approx(0.5)


def test_slope_needs_two_distinct_positive_sizes() -> None:
    with pytest.raises(ValueError, match="two"):
        loglog_slope([10.0], [1.0])
    with pytest.raises(ValueError, match="different sizes"):
        loglog_slope([10.0, 10.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        loglog_slope([0.0, 10.0], [1.0, 2.0])


def test_ratio_and_rate_refuse_a_zero_baseline() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert megabytes_per_second(50_000_000, 2.0) == 25.0
    with pytest.raises(ValueError):
        ratio(1.0, 0.0)
    with pytest.raises(ValueError):
        megabytes_per_second(1, 0.0)
    with pytest.raises(ValueError):
        median([])


@pytest.mark.parametrize(
    ("rows", "label"), [(10_000, "10k"), (1_000_000, "1m"), (5_000_000, "5m"), (2500, "2500")]
)
def test_size_labels_name_the_keys(rows: int, label: str) -> None:
    assert size_label(rows) == label


def _run(seconds: float, rss: int, frame: int | None = None) -> Run:
    return Run(
        seconds=seconds, process_seconds=seconds + 5, peak_rss_bytes=rss, roc_auc=0.7, frame_bytes=frame
    )


def test_overhead_keys_use_medians_and_the_two_largest_sizes() -> None:
    sizes = [
        SizeResult(10_000, bare=[_run(0.1, 100)], pipeline=[_run(5.0, 300)]),
        SizeResult(100_000, bare=[_run(1.0, 200)], pipeline=[_run(2.0, 400), _run(9.0, 400), _run(2.0, 400)]),
        SizeResult(
            1_000_000,
            bare=[_run(10.0, 1000, 250), _run(10.0, 1000, 250)],
            pipeline=[_run(20.0, 1200), _run(20.0, 1400)],
        ),
    ]
    keys = overhead_keys(sizes)
    assert keys["overhead_ratio_10k"] == pytest.approx(50.0)
    assert keys["overhead_ratio_100k"] == pytest.approx(2.0)  # the 9 s outlier is not the median
    assert keys["overhead_ratio_1m"] == pytest.approx(2.0)
    assert keys["scale_slope"] == pytest.approx(1.0)  # 2 s -> 20 s over 10x rows
    assert keys["rss_vs_bare"] == pytest.approx(1.3)
    assert keys["rss_over_df"] == pytest.approx(1300 / 250)


def test_verdict_compares_against_the_aim() -> None:
    assert verdict("rss_vs_bare", 1.2).endswith("met")
    assert verdict("dvc_pull_vs_boto3", 0.5).endswith("missed")
    assert verdict("bare_import_s", 3.0) == ""
