"""Each dataset has its own landing folder, catalog, experiment and model; names set explicitly win."""

from __future__ import annotations

import pytest

from flows.settings import Settings


def test_each_dataset_lands_records_and_registers_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLOPS_EXPERIMENT_NAME", "MLOPS_MODEL_NAME", "MLOPS_DATASET"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(landing_url="s3://landing/team", data_url="s3://data/team")
    loans, wines = settings, settings.for_dataset("wines")
    assert (loans.dataset, loans.experiment_name, loans.model_name) == (
        "loan-default",
        "loan-default",
        "loan-default-xgb",
    )
    assert (wines.experiment_name, wines.model_name) == ("wines", "wines-xgb")
    assert wines.resolved_landing_url == "s3://landing/team/wines"
    assert wines.catalog_url == "s3://data/team/catalog/wines" != loans.catalog_url
    # Content-addressed, so shared: the DVC remote and the stored definitions.
    assert wines.dvc_remote_url == loans.dvc_remote_url == "s3://data/team/dvc"
    assert wines.definitions_url == loans.definitions_url


def test_names_set_explicitly_are_kept_for_every_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_MODEL_NAME", "our-model")
    monkeypatch.setenv("MLOPS_EXPERIMENT_NAME", "our-experiment")
    wines = Settings().for_dataset("wines")
    assert (wines.model_name, wines.experiment_name) == ("our-model", "our-experiment")


def test_a_dataset_name_is_a_folder_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_DATASET", "My Data")
    with pytest.raises(ValueError, match="dataset"):
        Settings()
