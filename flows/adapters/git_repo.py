"""Git through its own CLI: read files at a commit, commit on a new branch without touching the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class GitError(RuntimeError):
    """A git command failed; carries its stderr."""


def _git(cwd: Path, *args: str) -> str:
    # No prompt can hang a CLI run (a push asking for a password fails instead).
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise GitError(f"git {' '.join(args)} failed: {detail}")
    return result.stdout


@dataclass(frozen=True)
class GitRepo:
    root: Path

    @classmethod
    def at(cls, path: Path) -> GitRepo:
        """The repository that holds `path`."""
        if shutil.which("git") is None:
            raise GitError("git is not installed")
        try:
            top = _git(path, "rev-parse", "--show-toplevel").strip()
        except (GitError, OSError):
            raise GitError(f"{path} is not inside a git repository") from None
        return cls(Path(top))

    def run(self, *args: str) -> str:
        return _git(self.root, *args)

    def has_remote(self, remote: str) -> bool:
        return remote in self.run("remote").split()

    def commit_of(self, ref: str) -> str:
        """The commit a branch, tag or sha names; GitError when there is none."""
        try:
            return self.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
        except GitError:
            raise GitError(f"no commit {ref!r} in {self.root}") from None

    def fetch(self, remote: str, branch: str) -> str:
        """The commit `branch` is at on `remote` now."""
        self.run("fetch", "--quiet", remote, branch)
        return self.commit_of("FETCH_HEAD")

    def read(self, commit: str, path: str) -> str | None:
        """A file's text at a commit (None when the commit has no such file)."""
        try:
            self.run("cat-file", "-e", f"{commit}:{path}")
        except GitError:
            return None
        return self.run("show", f"{commit}:{path}")

    def branch_commit(self, branch: str) -> str | None:
        try:
            return self.run("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}").strip()
        except GitError:
            return None

    def commit_on_new_branch(self, base: str, branch: str, files: Mapping[str, str], message: str) -> str:
        """Create `branch` at `base` with one commit writing `files`; returns the commit.

        The commit is made in a temporary worktree, so the user's checkout, index and working tree are never
        touched. Either the branch exists with its commit afterwards, or nothing does.
        """
        scratch = Path(tempfile.mkdtemp(prefix="mlops-promote-"))
        worktree = scratch / "worktree"
        created = False
        try:
            self.run("worktree", "add", "--quiet", "-b", branch, str(worktree), base)
            created = True
            for path, text in files.items():
                (worktree / path).write_text(text)
            _git(worktree, "add", "--", *files)
            _git(worktree, "commit", "--quiet", "-m", message)
            return _git(worktree, "rev-parse", "HEAD").strip()
        except BaseException:
            if created:
                self._remove_worktree(worktree)
                self.run("branch", "-D", branch)
            raise
        finally:
            if created:
                self._remove_worktree(worktree)
            shutil.rmtree(scratch, ignore_errors=True)

    def _remove_worktree(self, worktree: Path) -> None:
        if worktree.exists():
            self.run("worktree", "remove", "--force", str(worktree))
        self.run("worktree", "prune")

    def push(self, remote: str, branch: str) -> None:
        self.run("push", "--quiet", remote, f"refs/heads/{branch}:refs/heads/{branch}")
