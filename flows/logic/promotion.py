"""Promotion between environments: the model each environment pins in Git, and when a version may be promoted.

An environment is `infra/environments/<name>/values.yaml`, the Helm values Argo CD deploys it with. Its pinned
model is `scoring.model.name` / `scoring.model.version`; `flowRuns.mlflowTrackingUri` names its registry.
Pure: text in, text or decisions out.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from flows.logic.evaluation import GATE_PROMOTE
from flows.logic.lineage import missing_lineage
from flows.logic.tag_names import GATE_DECISION_TAG, GATE_REASON_TAG

ENVIRONMENTS_DIR = "infra/environments"
PIN_NAME_PATH = ("scoring", "model", "name")
PIN_VERSION_PATH = ("scoring", "model", "version")
REGISTRY_PATH = ("flowRuns", "mlflowTrackingUri")
_ENVIRONMENT = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_VERSION = re.compile(r"^[1-9][0-9]*$")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# `key: value  # comment` on one line of a block mapping (list items and flow style never hold the pin).
_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(?P<rest>[^\r\n]*)(?P<eol>\r?\n)?$")


class PromotionError(ValueError):
    """Bad input, or a promotion that is refused; nothing was changed."""


@dataclass(frozen=True)
class PinnedModel:
    name: str
    version: str  # "" while nothing is pinned

    def __str__(self) -> str:
        return f"{self.name} version {self.version}" if self.version else f"{self.name} (no version pinned)"


def values_path(environment: str) -> str:
    """The values file of an environment, relative to the repository root."""
    if not _ENVIRONMENT.match(environment):
        raise PromotionError(
            f"an environment name is lowercase letters, digits and dashes (dev, prod), got {environment!r}"
        )
    return f"{ENVIRONMENTS_DIR}/{environment}/values.yaml"


def parse_values(text: str, where: str) -> dict[str, Any]:
    """The values file as a mapping, or a PromotionError naming the file."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PromotionError(f"{where} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PromotionError(f"{where} must be a YAML mapping of Helm values")
    return data


def _lookup(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = data
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def read_pin(text: str, where: str) -> PinnedModel:
    """The environment's pinned model; the file must declare both keys, the version as a quoted string."""
    data = parse_values(text, where)
    name, version = _lookup(data, PIN_NAME_PATH), _lookup(data, PIN_VERSION_PATH)
    if not isinstance(name, str) or not _MODEL_NAME.match(name):
        raise PromotionError(f"{where}: scoring.model.name must be a registered model name, got {name!r}")
    if not isinstance(version, str) or (version and not _VERSION.match(version)):
        raise PromotionError(
            f'{where}: scoring.model.version must be a quoted version number such as "3", or "" while '
            f"nothing is pinned; got {version!r}"
        )
    return PinnedModel(name, version)


def registry_of(text: str, where: str) -> str:
    """The MLflow registry the environment's flow runs use ("" means its own, in-release MLflow)."""
    uri = _lookup(parse_values(text, where), REGISTRY_PATH)
    return uri if isinstance(uri, str) else ""


def shared_registry_problem(
    source: str, source_registry: str, target: str, target_registry: str
) -> str | None:
    """Why a version number of `source` would mean nothing in `target`, if it would."""
    for environment, registry in ((source, source_registry), (target, target_registry)):
        if not registry:
            return (
                f"{environment} uses its own in-release MLflow (flowRuns.mlflowTrackingUri is empty in "
                f"{values_path(environment)}): a version number only names the same model in a registry "
                "both environments share"
            )
    if source_registry != target_registry:
        return (
            f"{source} and {target} use different MLflow registries ({source_registry} vs "
            f"{target_registry}): a version number only names the same model in a registry both share"
        )
    return None


def promotion_refusals(tags: Mapping[str, str]) -> list[str]:
    """Why this model version may not be promoted (empty: it may): incomplete lineage, or no passed gate."""
    problems = []
    missing = missing_lineage(tags)
    if missing:
        problems.append(f"incomplete lineage: missing {', '.join(missing)}")
    decision = tags.get(GATE_DECISION_TAG, "")
    if not decision:
        problems.append(f"no gate decision recorded ({GATE_DECISION_TAG}): it was never evaluated")
    elif decision != GATE_PROMOTE:
        reason = tags.get(GATE_REASON_TAG) or "no reason recorded"
        problems.append(f"its gate did not pass: {GATE_DECISION_TAG} is {decision!r} ({reason})")
    return problems


def with_pin(text: str, pin: PinnedModel, where: str) -> str:
    """The values text with `pin` as scoring.model; every other byte (comments, order) is kept."""
    current = parse_values(text, where)
    updated = text
    if _lookup(current, PIN_NAME_PATH) != pin.name:  # an unchanged line stays byte for byte
        updated = _set_scalar(updated, PIN_NAME_PATH, pin.name, where)
    updated = _set_scalar(updated, PIN_VERSION_PATH, pin.version, where)
    expected = copy.deepcopy(current)
    expected["scoring"]["model"].update({"name": pin.name, "version": pin.version})
    if parse_values(updated, where) != expected:  # a layout the line edit does not understand
        raise PromotionError(f"{where}: could not rewrite scoring.model safely; edit it by hand")
    return updated


def _set_scalar(text: str, path: tuple[str, ...], value: str, where: str) -> str:
    lines = text.splitlines(keepends=True)
    stack: list[tuple[int, str]] = []  # (indent, key) of the mappings enclosing the current line
    for number, line in enumerate(lines):
        match = _KEY_LINE.match(line)
        if match is None:  # comments, blank lines, list items
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match["key"]))
        if tuple(key for _, key in stack) == path:
            comment = re.search(r"\s+#.*$", match["rest"])
            lines[number] = (
                f"{match['indent']}{match['key']}: {json.dumps(value)}"
                f"{comment.group(0) if comment else ''}{match['eol'] or ''}"
            )
            return "".join(lines)
    raise PromotionError(f"{where} does not declare {'.'.join(path)} on a line of its own")


def branch_name(target: str, pin: PinnedModel) -> str:
    """The branch a promotion is proposed on: one per (environment, version), so a re-run finds it."""
    return f"promote/{target}/{pin.name}-v{pin.version}"


def commit_message(
    source: str, target: str, previous: PinnedModel, pin: PinnedModel, tags: Mapping[str, str]
) -> str:
    """Subject plus what a reviewer of the pull request needs: the gate and the lineage."""
    lines = [
        f"Promote {pin} to {target}",
        "",
        f"{target} pinned {previous}; {source}'s champion is {pin}.",
        f"gate: {tags.get(GATE_DECISION_TAG, '?')}: {tags.get(GATE_REASON_TAG, '')}",
    ]
    lines += [f"{key}: {tags[key]}" for key in sorted(tags) if key.startswith("lineage.")]
    return "\n".join(lines) + "\n"
