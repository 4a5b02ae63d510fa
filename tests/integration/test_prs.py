"""sm pr through the real CLI: leftovers committed, the branch pushed to a local bare
remote, the PR opened (then reused) by a stub ``gh`` that records its arguments; and
without gh, a plain message while the branch is still pushed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}

# A stand-in for the GitHub CLI: logs each call's arguments as a JSON line; `pr view`
# finds the PR once `pr create` has made it.
GH_STUB = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open({log!r}, "a") as f:
    f.write(json.dumps(args) + "\\n")
if args[:2] == ["auth", "status"]:
    sys.exit(0)
if args[:2] == ["pr", "view"]:
    if os.path.exists({state!r}):
        print(open({state!r}).read().strip())
        sys.exit(0)
    sys.exit("no pull requests found for branch")
if args[:2] == ["pr", "create"]:
    open({state!r}, "w").write("https://github.com/acme/proj/pull/7")
    print("Creating pull request...")
    print("https://github.com/acme/proj/pull/7")
    sys.exit(0)
sys.exit(2)
"""


def git(cwd: Path | str, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True,
                          text=True, env={**os.environ, **GIT_ENV}).stdout.strip()


@pytest.fixture
def remote(sm_home: Path) -> tuple[Path, Path]:
    """A bare 'remote' and a clone of it whose origin is that remote."""
    seed = sm_home / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    (seed / "app.py").write_text("x = 1\n")
    git(seed, "add", ".")
    git(seed, "commit", "-q", "-m", "init")
    bare = sm_home / "remote.git"
    git(sm_home, "clone", "-q", "--bare", str(seed), str(bare))
    clone = sm_home / "proj"
    git(sm_home, "clone", "-q", str(bare), str(clone))
    git(clone, "config", "user.name", "t")
    git(clone, "config", "user.email", "t@t")
    return bare, clone


def path_without_gh() -> str:
    dirs = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(d for d in dirs if not os.path.exists(os.path.join(d, "gh")))


def start_daemon(sm: Callable[..., Any], path: str) -> None:
    sm("daemon", "start", env={"PATH": path})


def test_pr_commits_leftovers_pushes_and_opens_then_reuses_the_pr(
    sm, sm_json, sm_home: Path, remote: tuple[Path, Path],
) -> None:
    bare, clone = remote
    stub = sm_home / "bin"
    stub.mkdir()
    log, state = sm_home / "gh.log", sm_home / "gh.state"
    (stub / "gh").write_text(GH_STUB.format(python=sys.executable, log=str(log),
                                            state=str(state)))
    (stub / "gh").chmod(0o755)
    start_daemon(sm, f"{stub}{os.pathsep}{path_without_gh()}")
    rec = json.loads(sm("spawn", "shell", "--name", "w1", "--worktree", "--cwd", str(clone),
                        "--json", "--", "sleep", "600").stdout)
    wt = Path(rec["cwd"])
    (wt / "app.py").write_text("x = 2\n")
    (wt / "new.py").write_text("y = 1\n")
    body = sm_home / "body.md"
    body.write_text("Why: because.\n")

    data = sm_json("pr", "w1", "--title", "Better x", "--draft", "--body-file", str(body))
    assert data["branch"] == "sm/w1" and data["base"] == "main"
    assert data["pr_url"] == "https://github.com/acme/proj/pull/7"
    assert data["reused"] is False and data["note"] is None
    assert data["committed"] == git(wt, "rev-parse", "HEAD")
    assert git(wt, "status", "--porcelain") == ""
    assert git(bare, "rev-parse", "refs/heads/sm/w1") == data["committed"]
    assert git(bare, "show", "sm/w1:new.py") == "y = 1"
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls == [
        ["auth", "status"], ["pr", "view", "sm/w1", "--json", "url", "-q", ".url"],
        ["pr", "create", "--head", "sm/w1", "--base", "main", "--title", "Better x",
         "--body", "Why: because.\n", "--draft"],
    ]

    again = sm("pr", "w1")
    assert "PR (existing): https://github.com/acme/proj/pull/7" in again.stdout
    assert "pushed sm/w1" in again.stdout
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c[:2] for c in calls].count(["pr", "create"]) == 1
    assert calls[-1][:2] == ["pr", "view"]
    events = json.loads(sm("events", "w1", "--json", "-n", "50").stdout)
    assert [e["payload"]["url"] for e in events if e["kind"] == "pr"] == [
        "https://github.com/acme/proj/pull/7"] * 2
    assert sm_json("worktree", "list")[0]["unpushed"] == 0

def test_pr_without_gh_says_so_and_still_pushes(
    sm, sm_home: Path, remote: tuple[Path, Path],
) -> None:
    bare, clone = remote
    start_daemon(sm, path_without_gh())
    rec = json.loads(sm("spawn", "shell", "--name", "w2", "--worktree", "--cwd", str(clone),
                        "--json", "--", "sleep", "600").stdout)
    Path(rec["cwd"], "app.py").write_text("x = 3\n")
    proc = sm("pr", "w2", check=False)
    assert proc.returncode == 1
    assert "gh (the GitHub CLI) is not installed: sm/w2 was pushed, but no PR was opened" \
        in proc.stderr
    assert "pushed sm/w2" in proc.stdout
    assert git(bare, "show", "sm/w2:app.py") == "x = 3"


def test_pr_refuses_the_base_branch_and_a_repo_without_origin(
    sm, sm_home: Path, remote: tuple[Path, Path],
) -> None:
    _, clone = remote
    start_daemon(sm, path_without_gh())
    sm("spawn", "shell", "--name", "onmain", "--cwd", str(clone), "--", "sleep", "600")
    proc = sm("pr", "onmain", check=False)
    assert proc.returncode == 2 and "on the base branch main" in proc.stderr
    lonely = sm_home / "lonely"
    lonely.mkdir()
    git(lonely, "init", "-q", "-b", "main")
    git(lonely, "commit", "-q", "--allow-empty", "-m", "init")
    sm("spawn", "shell", "--name", "solo", "--worktree", "--cwd", str(lonely), "--",
       "sleep", "600")
    proc = sm("pr", "solo", check=False)
    assert proc.returncode == 2 and "no remote 'origin'" in proc.stderr
