"""Promotion logic: reading and rewriting an environment's pin, the refusals, branch names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flows.logic.promotion import (
    PinnedModel,
    PromotionError,
    branch_name,
    commit_message,
    promotion_refusals,
    read_pin,
    registry_of,
    shared_registry_problem,
    values_path,
    with_pin,
)

ROOT = Path(__file__).resolve().parents[2]
VALUES = """\
# The prod environment.
flowRuns:
  environment: prod  # recorded with predictions
  mlflowTrackingUri: http://registry:5000
scoring:
  # The pinned model.
  model:
    name: loan-default-xgb
    version: "3"  # written by mlops promote
other:
  model:
    version: "9"
"""
LINEAGE = {
    "lineage.dataset": "loan-default",
    "lineage.dataset_definition": "d" * 64,
    "lineage.batch_number": "2",
    "lineage.batches": "1,2",
    "lineage.raw_md5s": "1:aa,2:bb",
    "lineage.dataset_md5": "cc",
    "lineage.dataset_key": "dd",
    "lineage.code_version": "abc123",
    "lineage.prefect_flow_run_id": "run-1",
}
PASSED = {"gate.decision": "promote", "gate.reason": "ROC AUC 0.80 beats champion 0.78"}


def test_reads_the_pin_of_an_environment() -> None:
    assert read_pin(VALUES, "prod.yaml") == PinnedModel("loan-default-xgb", "3")
    assert read_pin(VALUES.replace('"3"', '""'), "prod.yaml") == PinnedModel("loan-default-xgb", "")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (VALUES.replace('"3"  #', "3  #"), 'must be a quoted version number such as "3"'),
        (VALUES.replace('"3"', '"v3"'), "got 'v3'"),
        (VALUES.replace("    name: loan-default-xgb\n", ""), "scoring.model.name must be a registered model"),
        ("scoring: [1, 2]\n", "scoring.model.name"),
        ("- a list\n", "must be a YAML mapping"),
        ("scoring: {model: [}\n", "is not valid YAML"),
    ],
)
def test_refuses_a_malformed_pin_naming_the_file(text: str, message: str) -> None:
    with pytest.raises(PromotionError, match=r"prod\.yaml") as error:
        read_pin(text, "prod.yaml")
    assert message in str(error.value)


def test_rewrites_only_the_pin_keeping_comments_and_order() -> None:
    updated = with_pin(VALUES, PinnedModel("loan-default-xgb", "4"), "prod.yaml")
    assert updated == VALUES.replace('version: "3"  # written', 'version: "4"  # written')
    assert yaml.safe_load(updated)["other"]["model"]["version"] == "9"  # same key, another path


def test_rewrites_the_model_name_too() -> None:
    updated = with_pin(VALUES, PinnedModel("churn-xgb", "1"), "prod.yaml")
    assert read_pin(updated, "prod.yaml") == PinnedModel("churn-xgb", "1")
    assert updated.count("\n") == VALUES.count("\n")


def test_refuses_to_rewrite_a_pin_it_cannot_find_on_its_own_line() -> None:
    with pytest.raises(PromotionError, match=r"does not declare scoring\.model\.version"):
        with_pin('scoring: {model: {name: m, version: "1"}}\n', PinnedModel("m", "2"), "prod.yaml")


def test_the_repositorys_environments_can_be_rewritten() -> None:
    for path in sorted((ROOT / "infra" / "environments").glob("*/values.yaml")):
        text = path.read_text()
        pin = PinnedModel(read_pin(text, path.name).name, "12")
        assert read_pin(with_pin(text, pin, path.name), path.name) == pin


def test_environment_names_map_to_their_values_file() -> None:
    assert values_path("prod") == "infra/environments/prod/values.yaml"
    for bad in ("", "Prod", "../prod", "prod/x"):
        with pytest.raises(PromotionError, match="lowercase letters"):
            values_path(bad)


def test_a_version_with_lineage_and_a_passed_gate_may_be_promoted() -> None:
    assert promotion_refusals(LINEAGE | PASSED) == []


def test_incomplete_lineage_is_refused_naming_what_is_missing() -> None:
    tags = {k: v for k, v in LINEAGE.items() if k != "lineage.dataset_md5"} | PASSED
    assert promotion_refusals(tags | {"lineage.code_version": ""}) == [
        "incomplete lineage: missing lineage.dataset_md5, lineage.code_version"
    ]


def test_a_failed_or_missing_gate_is_refused() -> None:
    failed = LINEAGE | {"gate.decision": "keep", "gate.reason": "ROC AUC 0.7 is below margin"}
    assert promotion_refusals(failed) == [
        "its gate did not pass: gate.decision is 'keep' (ROC AUC 0.7 is below margin)"
    ]
    never = "no gate decision recorded (gate.decision): it was never evaluated"
    assert promotion_refusals(LINEAGE) == [never]
    assert len(promotion_refusals({})) == 2


def test_environments_must_share_one_registry() -> None:
    assert shared_registry_problem("dev", "http://r:5000", "prod", "http://r:5000") is None
    different = shared_registry_problem("dev", "http://a:5000", "prod", "http://b:5000")
    assert different is not None and "different MLflow registries" in different
    own = shared_registry_problem("dev", "http://r:5000", "prod", "")
    assert own is not None and own.startswith("prod uses its own in-release MLflow")
    assert registry_of(VALUES, "prod.yaml") == "http://registry:5000"
    assert registry_of("scoring: {}\n", "prod.yaml") == ""


def test_branch_and_commit_message_name_the_promotion() -> None:
    pin = PinnedModel("loan-default-xgb", "4")
    assert branch_name("prod", pin) == "promote/prod/loan-default-xgb-v4"
    message = commit_message("dev", "prod", PinnedModel("loan-default-xgb", ""), pin, LINEAGE | PASSED)
    assert message.splitlines()[0] == "Promote loan-default-xgb version 4 to prod"
    assert "prod pinned loan-default-xgb (no version pinned); dev's champion is" in message
    assert "lineage.dataset_md5: cc" in message and "gate: promote: ROC AUC 0.80" in message
