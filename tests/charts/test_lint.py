"""Should pass `helm lint --strict` with every values set under ci/ and every set Argo CD deploys."""

from __future__ import annotations

import pytest

from tests.charts.chart import CHART, CI_VALUES, DEPLOYED_VALUES, NAMESPACE, run_helm, values_file


@pytest.mark.parametrize("values_set", CI_VALUES + DEPLOYED_VALUES)
def test_should_lint_strictly_clean_with_each_ci_and_deployed_values_set(helm: str, values_set: str) -> None:
    result = run_helm(
        helm,
        "lint",
        "--strict",
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--values",
        str(values_file(values_set)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_should_ship_the_six_ci_values_sets() -> None:
    assert CI_VALUES == [
        "api-peers-values.yaml",
        "dask-values.yaml",
        "default-values.yaml",
        "external-db-values.yaml",
        "external-s3-values.yaml",
        "minimal-values.yaml",
    ]
