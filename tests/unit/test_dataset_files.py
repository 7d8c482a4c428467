"""Definitions on disk, their derived-feature code, and `mlops dataset init` / `check` as typed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from flows.adapters.datasets import (
    UnknownDataset,
    fetch_definition,
    load_definition,
    publish_definition,
    resolve_definition,
)
from flows.cli import main
from flows.feature_code import derive, derived_function
from flows.logic.definition import DefinitionError
from flows.logic.demo import generate_batch
from flows.settings import Settings

DEFINITION = """
name: {name}
id: null
columns:
  - {{name: x, type: number}}
  - {{name: y, type: integer, values: [0, 1]}}
label: {{column: y, task: binary}}
features: {{derived: "{derived}"}}
"""


def write(root: Path, name: str, derived: str, code: str | None = None) -> Settings:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "dataset.yaml").write_text(DEFINITION.format(name=name, derived=derived))
    if code is not None:
        (folder / "features.py").write_text(code)
    return Settings(datasets_dir=root)


def test_the_loan_demo_loads_from_the_repository() -> None:
    settings = Settings(datasets_dir=Path(__file__).resolve().parents[2] / "datasets")
    loan = load_definition("loan-default", settings)
    function = derived_function(loan, settings.datasets_dir / "loan-default")
    assert function is not None
    derived = derive(function, generate_batch(1, 10), loan)
    assert list(derived.columns) == ["loan_to_income", "payment_to_income", "log_income"]


def test_feature_files_of_two_datasets_do_not_collide(tmp_path: Path) -> None:
    double = "def derive(raw):\n    return raw[['x']].rename(columns={'x': 'x2'}) * 2\n"
    triple = "def derive(raw):\n    return raw[['x']].rename(columns={'x': 'x3'}) * 3\n"
    settings = write(tmp_path, "one", "features:derive", double)
    write(tmp_path, "two", "features:derive", triple)
    raw = pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]})
    results = []
    for name in ("one", "two"):
        definition = load_definition(name, settings)
        function = derived_function(definition, tmp_path / name)
        assert function is not None
        results.append(derive(function, raw, definition).iloc[:, 0].tolist())
    assert results == [[2.0, 4.0], [3.0, 6.0]]


@pytest.mark.parametrize(
    ("derived", "code", "expected"),
    [
        ("features:derive", "import not_a_module\n", "cannot import 'features': ModuleNotFoundError"),
        ("features:derive", "def other(raw):\n    return raw\n", "'features' has no function 'derive'"),
        ("no_such_package.mod:f", None, "cannot import 'no_such_package.mod'"),
    ],
)
def test_feature_code_that_does_not_import_is_refused(
    tmp_path: Path, derived: str, code: str | None, expected: str
) -> None:
    settings = write(tmp_path, "bad", derived, code)
    with pytest.raises(DefinitionError, match=expected):
        load_definition("bad", settings)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("return raw[['x']].head(1).rename(columns={'x': 'z'})", "returned 1 rows for 2"),
        ("return raw[['x']]", "returned columns that are declared already: 'x'"),
        ("return raw[['x']].rename(columns={'x': 'z'}).astype(str)", "not numeric: 'z'"),
        ("return [1, 2]", "must return a pandas DataFrame, returned list"),
        ("raise KeyError('income')", "raised KeyError"),
    ],
)
def test_feature_code_of_the_wrong_shape_is_refused(tmp_path: Path, body: str, expected: str) -> None:
    settings = write(tmp_path, "shape", "features:derive", f"def derive(raw):\n    {body}\n")
    definition = load_definition("shape", settings)
    function = derived_function(definition, tmp_path / "shape")
    assert function is not None
    with pytest.raises(DefinitionError, match=expected):
        derive(function, pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]}), definition)


def test_a_definition_whose_name_differs_from_its_folder_and_an_unknown_one(tmp_path: Path) -> None:
    settings = write(tmp_path, "one", "features:derive", "def derive(raw):\n    return raw[[]]\n")
    (tmp_path / "one").rename(tmp_path / "other")
    with pytest.raises(DefinitionError, match="'one' differs from the dataset's name 'other'"):
        load_definition("other", settings)
    with pytest.raises(UnknownDataset, match=r"no dataset 'three'.*datasets known: loan-default, other\)"):
        load_definition("three", settings)


def test_init_then_check_as_a_user_types_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLOPS_DATASETS_DIR", str(tmp_path / "datasets"))
    frame = load_breast_cancer(as_frame=True).frame
    frame = frame.assign(target=frame["target"].map({0: "Yes", 1: "No"}))
    frame.to_csv(tmp_path / "cancer.csv", index=False)
    assert (
        main(["dataset", "init", "cancer", "--from", str(tmp_path / "cancer.csv"), "--label", "target"]) == 0
    )
    assert (tmp_path / "datasets" / "cancer" / "dataset.yaml").is_file()
    assert (
        main(["dataset", "init", "cancer", "--from", str(tmp_path / "cancer.csv"), "--label", "target"]) == 1
    )
    assert "exists; edit it, or pass --force" in capsys.readouterr().err

    assert main(["dataset", "check", "cancer", str(tmp_path / "cancer.csv")]) == 0
    assert "569 rows match dataset 'cancer' (nothing was written)" in capsys.readouterr().out

    frame.assign(target=frame["target"].replace({"Yes": "Maybe"})).to_csv(tmp_path / "bad.csv", index=False)
    assert main(["dataset", "check", "cancer", str(tmp_path / "bad.csv")]) == 1
    err = capsys.readouterr().err
    assert "label 'target' has 212 value(s) not among its values (e.g. 'Maybe')" in err
    (tmp_path / "gzip.csv").write_bytes(b"\x1f\x8b\x08\x00")
    assert main(["dataset", "check", "cancer", str(tmp_path / "gzip.csv")]) == 1
    assert "gzip-compressed, not a CSV file" in capsys.readouterr().err
    assert main(["dataset", "check", "nope", str(tmp_path / "bad.csv")]) == 2
    assert "no dataset 'nope'" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "datasets").iterdir()) == ["cancer"], "check wrote something"


def test_init_writes_nothing_when_the_draft_is_not_a_valid_definition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLOPS_DATASETS_DIR", str(tmp_path / "datasets"))
    names = [f"customer {i}" for i in range(100)]  # free text, too many values for a category
    pd.DataFrame({"name": names, "x": range(100), "y": [0, 1] * 50}).to_csv(tmp_path / "t.csv", index=False)
    assert main(["dataset", "init", "t", "--from", str(tmp_path / "t.csv"), "--label", "y"]) == 1
    assert "free text cannot be a feature" in capsys.readouterr().err
    assert not (tmp_path / "datasets").exists()


def test_a_pipeline_hands_its_stages_the_definition_by_the_hash_of_its_text(tmp_path: Path) -> None:
    settings = write(tmp_path, "one", "features:derive", "def derive(raw):\n    return raw[[]]\n")
    settings = settings.model_copy(update={"data_url": str(tmp_path / "data")})
    ref, definition = resolve_definition("one", settings)
    text = (tmp_path / "one" / "dataset.yaml").read_bytes()
    assert ref.sha256 == hashlib.sha256(text).hexdigest()
    assert ref.features_sha256 == hashlib.sha256((tmp_path / "one" / "features.py").read_bytes()).hexdigest()
    stored = tmp_path / "data" / "definitions" / f"{ref.sha256}.yaml"
    assert stored.read_bytes() == text
    assert fetch_definition(ref, settings) == definition
    (tmp_path / "one" / "features.py").write_text("def derive(raw):\n    return raw[[]].copy()\n")
    with pytest.raises(DefinitionError, match=r"this stage's feature code .* is not the pipeline's"):
        fetch_definition(ref, settings)
    stored.write_bytes(text + b"\n# changed\n")
    with pytest.raises(DefinitionError, match="does not match its hash"):
        fetch_definition(ref, settings)


def test_a_published_definition_is_the_one_pipelines_train(tmp_path: Path) -> None:
    settings = write(tmp_path, "one", "features:derive", "def derive(raw):\n    return raw[[]]\n")
    settings = settings.model_copy(update={"data_url": str(tmp_path / "data")})
    publish_definition("one", settings)
    path = tmp_path / "one" / "dataset.yaml"
    path.write_text(path.read_text().replace("name: one", "name: one\ndescription: edited locally", 1))
    _, definition = resolve_definition("one", settings)
    assert definition.description == ""  # the published one, not the local edit
    assert (tmp_path / "data" / "definitions" / "one.yaml").is_file()
    publish_definition("one", settings)
    assert resolve_definition("one", settings)[1].description == "edited locally"
