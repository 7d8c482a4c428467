"""Should pass `helm lint --strict` with every values set under ci/."""

from __future__ import annotations

import pytest

from tests.charts.chart import CHART, CI_VALUES, NAMESPACE, run_helm


@pytest.mark.parametrize("values_file", CI_VALUES)
def test_should_lint_strictly_clean_with_each_ci_values_set(helm: str, values_file: str) -> None:
    result = run_helm(
        helm,
        "lint",
        "--strict",
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--values",
        str(CHART / "ci" / values_file),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_should_ship_the_four_ci_values_sets() -> None:
    assert CI_VALUES == [
        "default-values.yaml",
        "external-db-values.yaml",
        "external-s3-values.yaml",
        "minimal-values.yaml",
    ]
