"""`mlops promote`: pin one environment's model to another environment's champion, as a Git commit.

The registry says which version is the champion and whether it may go (lineage, gate); Git says what each
environment runs. The promotion is a commit on a new branch, based on the branch Argo CD deploys from, ready
for a pull request: merging it is what changes the target environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flows.adapters.git_repo import GitRepo
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
from flows.settings import Settings


@dataclass(frozen=True)
class Promotion:
    """What `mlops promote` did: `commit` and `branch` are empty when nothing needed doing."""

    target: str
    previous: PinnedModel
    pin: PinnedModel
    branch: str = ""
    commit: str = ""
    pushed_to: str = ""
    note: str = ""


def promote(
    source: str, target: str, settings: Settings, repo_path: Path, base: str = "main", remote: str = "origin"
) -> Promotion:
    """Pin `target` to `source`'s champion on a new branch; PromotionError when refused (nothing changes)."""
    source_file, target_file = values_path(source), values_path(target)
    repo = GitRepo.at(repo_path)
    has_remote = repo.has_remote(remote)
    base_commit = repo.fetch(remote, base) if has_remote else repo.commit_of(base)
    where = f"{base} ({base_commit[:12]})"
    source_text, target_text = repo.read(base_commit, source_file), repo.read(base_commit, target_file)
    for environment, path, text in ((source, source_file, source_text), (target, target_file, target_text)):
        if text is None:
            raise PromotionError(f"no environment {environment!r}: {path} is not in {where}")
    assert source_text is not None and target_text is not None
    problem = shared_registry_problem(
        source, registry_of(source_text, source_file), target, registry_of(target_text, target_file)
    )
    if problem:
        raise PromotionError(problem)
    previous = read_pin(target_text, target_file)
    model_name = read_pin(source_text, source_file).name
    champion_version, tags = _champion(model_name, settings)
    pin = PinnedModel(model_name, champion_version)
    refusals = promotion_refusals(tags)
    if refusals:
        raise PromotionError(f"{source}'s champion {pin} may not be promoted: " + "; ".join(refusals))
    if previous == pin:
        return Promotion(target, previous, pin, note=f"{target} already pins {pin} in {where}: nothing to do")
    branch = branch_name(target, pin)
    existing = repo.branch_commit(branch)
    if existing is not None:
        return _already_proposed(repo, existing, target, previous, pin, remote if has_remote else "")
    message = commit_message(source, target, previous, pin, tags)
    commit = repo.commit_on_new_branch(
        base_commit, branch, {target_file: with_pin(target_text, pin, target_file)}, message
    )
    if has_remote:
        repo.push(remote, branch)
    return Promotion(target, previous, pin, branch, commit, remote if has_remote else "")


def _champion(model_name: str, settings: Settings) -> tuple[str, dict[str, str]]:
    """The champion's version and tags, read without creating anything in the registry."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from flows.adapters.tracking import version_by_alias

    uri = settings.resolved_tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        champion = version_by_alias(client, model_name, settings.champion_alias)
    except (MlflowException, OSError) as exc:  # OSError: requests' connection errors
        message = f"cannot read the registry at {uri} (MLOPS_MLFLOW_TRACKING_URI): {exc}"
        raise PromotionError(message) from exc
    if champion is None:
        raise PromotionError(f"{model_name} has no '{settings.champion_alias}' in the registry at {uri}")
    return str(champion.version), dict(champion.tags or {})


def _already_proposed(
    repo: GitRepo, commit: str, target: str, previous: PinnedModel, pin: PinnedModel, remote: str
) -> Promotion:
    """A branch for this promotion exists: the same proposal again is a no-op, anything else is refused."""
    branch, target_file = branch_name(target, pin), values_path(target)
    text = repo.read(commit, target_file)
    if text is None or read_pin(text, f"{target_file} on {branch}") != pin:
        raise PromotionError(
            f"branch {branch} exists but does not pin {pin} in {target_file}: delete it or merge it first"
        )
    if remote:  # makes sure the proposal reached the remote (a no-op when it already has)
        repo.push(remote, branch)
    note = f"already proposed on branch {branch} ({commit[:12]}): nothing to do"
    return Promotion(target, previous, pin, branch=branch, pushed_to=remote, note=note)
