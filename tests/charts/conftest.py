from __future__ import annotations

import pytest

from tests.charts.chart import CI_VALUES, DEPLOYED_VALUES, Rendered, find_helm, render


@pytest.fixture(scope="session")
def helm() -> str:
    path = find_helm()
    if path is None:
        pytest.skip("helm not found ($HELM, PATH or bin/helm)")
    return path


@pytest.fixture(scope="session")
def default_chart(helm: str) -> Rendered:
    return render(helm, ("default-values.yaml",))


@pytest.fixture(scope="session", params=CI_VALUES + DEPLOYED_VALUES)
def ci_chart(request: pytest.FixtureRequest, helm: str) -> Rendered:
    """The chart with each ci/ values set and each set Argo CD deploys (every environment, the registry)."""
    values_file: str = request.param
    return render(helm, (values_file,))
