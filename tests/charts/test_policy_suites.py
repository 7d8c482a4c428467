"""Should pass third-party policy suites (kube-score, checkov) on every rendered values set.

Each finding the chart accepts is listed in policy_exceptions.yaml with its reason; any other fails, and so
does an exception that no values set needs any more (a stale reason is a wrong one).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.chart import CI_VALUES, DEPLOYED_VALUES, RELEASE, ROOT, render

EXCEPTIONS = yaml.safe_load((Path(__file__).with_name("policy_exceptions.yaml")).read_text())
VALUES_SETS = CI_VALUES + DEPLOYED_VALUES
KUBE_SCORE = ROOT / "bin" / "kube-score"
CHECKOV = ROOT / "bin" / "checkov"


@dataclass(frozen=True)
class Finding:
    tool: str
    check: str
    obj: str  # Kind/name, the release prefix dropped
    summary: str

    def __str__(self) -> str:
        return f"{self.tool} {self.check} on {self.obj}: {self.summary}"


def short_name(kind: str, name: str) -> str:
    return f"{kind}/{name.removeprefix(f'{RELEASE}-')}"


def accepted_by(finding: Finding) -> dict[str, Any] | None:
    for exception in EXCEPTIONS[finding.tool]:
        if exception["check"] != finding.check:
            continue
        if exception.get("finding", finding.summary) != finding.summary:
            continue
        if "*" in exception["objects"] or finding.obj in exception["objects"]:
            return exception  # the listed entry itself: the staleness test counts entries by identity
    return None


def tool(path: Path) -> str:
    assert path.exists(), f"{path.relative_to(ROOT)} is missing: `make policy-tools` installs it"
    return str(path)


@pytest.fixture(scope="module")
def manifests(helm: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each values set's rendered chart, one file each (a name checkov reports the findings by)."""
    directory = tmp_path_factory.mktemp("rendered")
    files = {}
    for index, values in enumerate(VALUES_SETS):
        path = directory / f"{index}.yaml"
        path.write_text(yaml.safe_dump_all(render(helm, (values,)).objects, sort_keys=False))
        files[values] = path
    return files


def kube_score(manifest: Path) -> Iterator[Finding]:
    result = subprocess.run(
        [tool(KUBE_SCORE), "score", "--output-format", "json", str(manifest)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stdout, result.stderr  # it exits 1 when it finds anything; its report is on stdout
    for obj in json.loads(result.stdout):
        name = short_name(obj["type_meta"]["kind"], obj["object_meta"]["name"])
        for check in obj["checks"]:
            if check["skipped"] or check["grade"] >= 10:  # 10: all good
                continue
            for comment in check["comments"] or [{"summary": ""}]:
                yield Finding("kube-score", check["check"]["id"], name, comment["summary"])


@pytest.fixture(scope="module")
def checkov_findings(manifests: dict[str, Path]) -> dict[str, list[Finding]]:
    """One checkov run over every rendered values set (it takes seconds to start), findings by values set."""
    [directory] = {path.parent for path in manifests.values()}
    result = subprocess.run(
        [
            tool(CHECKOV),
            "--directory",
            str(directory),
            "--framework",
            "kubernetes",
            "--output",
            "json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.stdout.strip().startswith(("{", "[")), result.stdout + result.stderr
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    by_file: dict[str, list[Finding]] = {path.name: [] for path in manifests.values()}
    for part in reports:
        assert part["check_type"] == "kubernetes", part["check_type"]
        for failed in part["results"]["failed_checks"]:
            kind, _namespace, name = failed["resource"].split(".", 2)
            if kind == "Pod":  # a workload's pod template, named by its workload and then its labels
                kind, name = "Pod", name.split(".", 1)[0]
            finding = Finding("checkov", failed["check_id"], short_name(kind, name), failed["check_name"])
            by_file[Path(failed["file_path"]).name].append(finding)
    return {values: by_file[path.name] for values, path in manifests.items()}


@pytest.fixture(scope="module")
def findings(
    manifests: dict[str, Path], checkov_findings: dict[str, list[Finding]]
) -> dict[str, list[Finding]]:
    return {values: [*kube_score(path), *checkov_findings[values]] for values, path in manifests.items()}


@pytest.mark.parametrize("values", VALUES_SETS)
def test_should_leave_no_policy_finding_without_a_written_reason(
    values: str, findings: dict[str, list[Finding]]
) -> None:
    unexplained = sorted({str(f) for f in findings[values] if accepted_by(f) is None})
    assert unexplained == [], f"{values}: fix these, or add each to policy_exceptions.yaml with its reason"


def test_should_run_both_suites_and_find_what_they_are_known_to_find(
    findings: dict[str, list[Finding]],
) -> None:
    """A suite that silently checked nothing would pass the test above: both report the pinned-tag finding."""
    default = findings["default-values.yaml"]
    assert {f.tool for f in default if f.check in ("container-image-pull-policy", "CKV_K8S_15")} == {
        "kube-score",
        "checkov",
    }


def test_should_keep_only_exceptions_that_some_values_set_needs(findings: dict[str, list[Finding]]) -> None:
    used = {id(e) for fs in findings.values() for f in fs if (e := accepted_by(f))}
    stale = [e["check"] for entries in EXCEPTIONS.values() for e in entries if id(e) not in used]
    assert stale == []


def test_should_give_every_exception_a_reason_and_its_objects() -> None:
    for entries in EXCEPTIONS.values():
        for exception in entries:
            assert len(exception["reason"].split()) >= 10, exception
            assert exception["objects"], exception
