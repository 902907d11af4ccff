"""The bench's baseline checkout (tests/bench/cost.py `baseline`): a real git worktree of this
repository at the asked commit, reused while it is there, and one at a time: checking out another
baseline removes the earlier worktree and its registration, so `git worktree list` does not grow."""

from __future__ import annotations

import subprocess

import pytest
from bench import cost


def _worktrees() -> str:
    return subprocess.run(["git", "worktree", "list", "--porcelain"], cwd=cost.PROJECT_ROOT, check=True,
                          capture_output=True, text=True).stdout


def test_one_baseline_worktree_is_kept_and_reused(tmp_path, monkeypatch) -> None:
    try:
        first, second = cost.git("rev-parse", "HEAD~1"), cost.git("rev-parse", "HEAD~2")
    except subprocess.CalledProcessError:
        pytest.skip("a shallow clone: HEAD~2 is not here")
    monkeypatch.setattr(cost, "BENCH_DIR", tmp_path)
    said: list[str] = []
    try:
        a = cost.baseline("HEAD~1", said.append)
        assert a.rev == first[:10] and cost.git("rev-parse", "HEAD", cwd=a.root) == first
        assert str(a.root) in _worktrees()
        assert cost.baseline("HEAD~1", said.append).root == a.root and len(said) == 1  # reused, not checked out again
        b = cost.baseline("HEAD~2", said.append)
        assert cost.git("rev-parse", "HEAD", cwd=b.root) == second
        assert not a.root.exists() and str(a.root) not in _worktrees()
        assert [p.name for p in tmp_path.iterdir()] == [b.root.name]
        assert any("removed the earlier baseline" in line for line in said)
    finally:
        for path in tmp_path.glob("baseline-*"):
            cost.remove_worktree(path)
    assert str(tmp_path) not in _worktrees()
