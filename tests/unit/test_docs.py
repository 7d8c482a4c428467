"""The README and docs/: generated pages are what the code generates now, every relative link and anchor
resolves, and the README stays a front door that reaches every page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devenv import docs

REPO = docs.REPO
PAGES = [REPO / "README.md", *sorted(docs.DOCS.glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def links(page: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", page.read_text()))


@pytest.mark.parametrize("name", docs.PAGES)
def test_a_generated_page_is_what_the_code_generates(name: str) -> None:
    page = docs.DOCS / name
    assert page.exists(), f"docs/{name} is missing: run `make docs`"
    assert page.read_text() == docs.PAGES[name](), f"docs/{name} is stale: run `make docs`"


def test_the_check_names_a_stale_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docs, "DOCS", tmp_path)
    (tmp_path / "reference.md").write_text("# an old copy\n")
    assert set(docs.stale_pages()) == set(docs.PAGES)  # one stale, the others missing
    assert docs.main(["--check"]) == 1


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        if re.match(r"^[a-z]+:", target):  # http://, https://, mailto: are not checked offline
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.name}")
    assert broken == []


def test_the_readme_is_a_front_door_that_reaches_every_page() -> None:
    readme = REPO / "README.md"
    assert len(readme.read_text().splitlines()) <= 150
    linked = {(readme.parent / target.partition("#")[0]).resolve() for target in links(readme)}
    assert [p.name for p in sorted(docs.DOCS.glob("*.md")) if p.resolve() not in linked] == []


def test_the_settings_reference_names_every_setting() -> None:
    """Each field of Settings, with a description: the page cannot omit one or leave it unexplained."""
    from flows.settings import Settings

    reference = docs.settings_reference()
    for name, field in Settings.model_fields.items():
        assert f"`{docs.setting_variable(name, field)}`" in reference
        assert field.description, f"Settings.{name} has no description"


def test_every_key_of_the_definition_is_described() -> None:
    from flows.logic.definition import DatasetDefinition

    models = [DatasetDefinition] + [
        m for f in DatasetDefinition.model_fields.values() if (m := docs.nested(f.annotation))
    ]
    undescribed = [
        f"{m.__name__}.{n}" for m in models for n, f in m.model_fields.items() if not f.description
    ]
    assert undescribed == []


def test_the_readmes_commands_are_the_ones_ci_and_the_docs_test_run() -> None:
    """The README's shell block is `make run` (run as written by tests/integration/test_docs_commands.py,
    through getting-started's block) and `make test` (what CI runs); any other command belongs in a page
    whose block a test runs."""
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    commands = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    assert sorted(filter(None, commands)) == ["make run", "make test"]
    assert (
        "make run"
        in re.findall(r"```bash\n(.*?)```", (docs.DOCS / "getting-started.md").read_text(), re.S)[0]
    )
