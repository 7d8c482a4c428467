"""The chart's README is what helm-docs makes of its template and values.yaml's `# --` comments: a value
added, removed or described anew without `make chart-docs` fails here."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.charts.chart import CHART, ROOT

HELM_DOCS = ROOT / "bin" / "helm-docs"


def test_should_match_what_helm_docs_generates(tmp_path: Path) -> None:
    assert HELM_DOCS.is_file(), "helm-docs is built by `make tools` (pinned in the Makefile)"
    copy = tmp_path / "charts" / CHART.name
    shutil.copytree(CHART, copy)
    (copy / "README.md").unlink()
    done = subprocess.run(
        [
            str(HELM_DOCS),
            "--chart-search-root",
            str(tmp_path / "charts"),
            "--template-files",
            "README.md.gotmpl",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    generated = (copy / "README.md").read_text()
    assert "| images.prefectServer.tag |" in generated  # a values table, not an empty template
    assert (CHART / "README.md").read_text() == generated, (
        "charts/mlops-platform/README.md is stale: make chart-docs"
    )


def test_should_describe_every_value_in_values_yaml() -> None:
    """No value without its `# --` description (helm-docs would list it with an empty one)."""
    readme = (CHART / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| ") and not line.startswith("| Key ")]
    assert len(rows) > 50
    undescribed = [row.split("|")[1].strip() for row in rows if re.search(r"\|\s*\|\s*$", row)]
    assert not undescribed, undescribed
