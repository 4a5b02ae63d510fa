"""Worktrees through the real CLI and real git: spawn --worktree (with .worktreeinclude
and a setup command), list, gc that never loses work, conflict prediction, the dirty
notice at the end of a turn, and the repo registry with a bare mirror."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def git(cwd: Path | str, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True,
                          text=True, env={**os.environ, **GIT_ENV}).stdout.strip()


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / "app.py").write_text("def main():\n    return 1\n")
    (path / "other.py").write_text("x = 1\n")
    (path / ".gitignore").write_text(".env\nconfig/*.local\nsetup.out\n")
    (path / ".worktreeinclude").write_text("# secrets the agent needs\n.env\nconfig/*.local\n")
    (path / ".sm").mkdir()
    (path / ".sm" / "worktree.yaml").write_text('setup: "echo ready-$SM_WORKTREE > setup.out"\n')
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "init")
    (path / ".env").write_text("TOKEN=secret\n")
    (path / "config").mkdir()
    (path / "config" / "db.local").write_text("db=local\n")
    return path


@pytest.fixture
def repo(sm_home: Path) -> Path:
    return make_repo(sm_home / "proj")


def shell(sm: Callable[..., Any], name: str, *args: str) -> dict[str, Any]:
    out = sm("spawn", "shell", "--name", name, *args, "--json", "--", "sleep", "600")
    return json.loads(out.stdout)


def test_spawn_worktree_copies_included_files_and_runs_setup(
    sm, sm_json, spawn, sm_home: Path, repo: Path,
) -> None:
    rec = spawn("--name", "w1", "--worktree", "--cwd", str(repo))
    wt = sm_home / "worktrees" / "proj" / "w1"
    assert rec["cwd"] == str(wt)
    assert git(wt, "branch", "--show-current") == "sm/w1"
    assert (wt / ".env").read_text() == "TOKEN=secret\n"
    assert (wt / "config" / "db.local").read_text() == "db=local\n"
    assert (wt / "setup.out").read_text() == f"ready-{wt}\n"
    assert git(wt, "status", "--porcelain") == ""  # copied files stay ignored

    other = shell(sm, "w2", "--worktree", "--cwd", str(repo), "--branch", "feature/x",
                  "--base", "HEAD")
    assert git(other["cwd"], "branch", "--show-current") == "feature/x"

    listed = {w["session"]: w for w in sm_json("worktree", "list")}
    assert set(listed) == {"w1", "w2"}
    assert listed["w1"]["branch"] == "sm/w1" and listed["w1"]["repo"] == "proj"
    assert listed["w1"]["dirty"] == 0 and listed["w1"]["unpushed"] == 0
    assert listed["w1"]["size"] > 0
    text = sm("worktree", "list").stdout
    assert "sm/w1" in text and "feature/x" in text

    taken = sm("spawn", "shell", "--name", "w1", "--worktree", "--cwd", str(repo), "--",
               "sleep", "1", check=False)
    assert taken.returncode == 1 and "taken" in taken.stderr
    bad = sm("spawn", "shell", "--worktree", "--base", "nope", "--cwd", str(repo), "--",
             "sleep", "1", check=False)
    assert bad.returncode == 2 and "unknown base 'nope'" in bad.stderr
    assert len(sm_json("worktree", "list")) == 2  # nothing left behind by the failures


def test_failed_setup_leaves_no_worktree(sm, sm_json, sm_home: Path, repo: Path) -> None:
    (repo / ".sm" / "worktree.yaml").write_text('setup: "echo broken >&2; exit 3"\n')
    git(repo, "commit", "-qam", "a broken setup")
    proc = sm("spawn", "shell", "--worktree", "--name", "s", "--cwd", str(repo), "--",
              "sleep", "1", check=False)
    assert proc.returncode == 1
    assert "failed (exit 3): broken" in proc.stderr
    assert not (sm_home / "worktrees" / "proj" / "s").exists()
    assert "sm/s" not in git(repo, "branch", "--list")
    assert sm_json("worktree", "list") == []


def test_gc_keeps_unsaved_work_and_removes_clean_merged_worktrees(
    sm, sm_json, repo: Path,
) -> None:
    dirty = shell(sm, "dirty", "--worktree", "--cwd", str(repo))
    unpushed = shell(sm, "unpushed", "--worktree", "--cwd", str(repo))
    merged = shell(sm, "merged", "--worktree", "--cwd", str(repo))
    clean = shell(sm, "clean", "--worktree", "--cwd", str(repo))
    shell(sm, "live", "--worktree", "--cwd", str(repo))
    Path(dirty["cwd"], "notes.txt").write_text("not committed\n")
    Path(unpushed["cwd"], "app.py").write_text("def main():\n    return 2\n")
    git(unpushed["cwd"], "commit", "-qam", "work on no remote")
    Path(merged["cwd"], "new.py").write_text("y = 2\n")
    git(merged["cwd"], "add", "new.py")
    git(merged["cwd"], "commit", "-qm", "merged work")
    git(repo, "merge", "-q", "--ff-only", "sm/merged")
    for name in ("dirty", "unpushed", "merged", "clean"):
        sm("kill", name)

    data = sm_json("worktree", "gc")
    assert sorted(r["session"] for r in data["removed"]) == ["clean", "merged"]
    kept = {k["session"]: k["reason"] for k in data["kept"]}
    assert kept.pop("live").startswith("session live is ")  # starting or idle
    assert kept == {
        "dirty": "1 uncommitted change(s)",
        "unpushed": "1 commit(s) on no remote and not in main",
    }
    assert data["freed"] > 0 and data["reclaimable"] > 0
    assert not Path(merged["cwd"]).exists() and not Path(clean["cwd"]).exists()
    assert Path(dirty["cwd"], "notes.txt").exists()
    branches = git(repo, "branch", "--format=%(refname:short)").split()
    assert "sm/merged" not in branches and "sm/clean" not in branches
    assert "sm/unpushed" in branches and "sm/dirty" in branches

    again = sm("worktree", "gc").stdout
    assert "kept    dirty" in again and "uncommitted" in again

    refused = sm("worktree", "gc", "--force", "live", check=False)
    assert refused.returncode == 1 and "live session" in refused.stderr
    forced = sm_json("worktree", "gc", "--force", "dirty")
    assert [r["session"] for r in forced["removed"]] == ["dirty"]
    assert forced["removed"][0]["forced"] is True
    assert not Path(dirty["cwd"]).exists()
    assert sorted(w["session"] for w in sm_json("worktree", "list")) == ["live", "unpushed"]


def test_conflicts_flags_a_real_textual_conflict(sm, sm_json, repo: Path) -> None:
    a = shell(sm, "a", "--worktree", "--cwd", str(repo))
    b = shell(sm, "b", "--worktree", "--cwd", str(repo))
    c = shell(sm, "c", "--worktree", "--cwd", str(repo))
    assert sm_json("conflicts")["conflicts"] == []

    Path(a["cwd"], "app.py").write_text("def main():\n    return 'a'\n")  # uncommitted
    Path(b["cwd"], "app.py").write_text("def main():\n    return 'b'\n")
    git(b["cwd"], "commit", "-qam", "b's version")
    Path(c["cwd"], "other.py").write_text("x = 3\n")  # touches another file: no conflict

    proc = sm("conflicts", "--json", check=False)
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["conflicts"] == [{"a": "a", "b": "b", "branches": ["sm/a", "sm/b"],
                                  "files": ["app.py"]}]
    assert data["checked"] == 6  # three pairs and three bases
    text = sm("conflicts", check=False).stdout
    assert "a ⇄ b: app.py" in text

    git(repo, "commit", "--allow-empty", "-qm", "base moves")
    Path(repo, "other.py").write_text("x = 'base'\n")
    git(repo, "commit", "-qam", "base edits other.py")
    files = {(c["a"], c["b"]): c["files"] for c in json.loads(
        sm("conflicts", "--json", check=False).stdout)["conflicts"]}
    assert files[("c", "main")] == ["other.py"]
    assert git(a["cwd"], "status", "--porcelain") == "M app.py"  # nothing was touched


def test_a_dirty_worktree_is_reported_to_its_worker_once(
    sm, sm_json, spawn, script_file, wait_state, wait_until, repo: Path,
) -> None:
    script = script_file({"rules": [{"match": "mess", "actions": [
        {"write": {"path": "mess.txt", "content": "wip\n"}}, {"say": "made a mess"}]}]})
    spawn("--name", "worker", "--worktree", "--cwd", str(repo), script=script)
    sm("send", "worker", "make a mess")

    def notices() -> list[dict[str, Any]]:
        return [m for m in sm_json("messages", "--to", "worker") if m["from"] == "sm"]

    wait_until(lambda: [m for m in notices() if m["state"] == "delivered"], timeout=15)
    wait_state("worker", "idle", where=lambda r: "from sm]" in (r["last_message"] or ""))
    sm("send", "worker", "anything else")
    wait_state("worker", "idle", where=lambda r: "anything else" in (r["last_message"] or ""))
    found = notices()
    assert len(found) == 1
    assert "has 1 uncommitted change(s)" in found[0]["body"]
    assert "sm pr" in found[0]["body"]


def test_repo_registry_with_a_bare_mirror(sm, sm_json, sm_home: Path) -> None:
    upstream = make_repo(sm_home / "up")
    remote = sm_home / "remote.git"
    git(sm_home, "clone", "-q", "--bare", str(upstream), str(remote))
    added = sm_json("repo", "add", str(remote), "--name", "proj")
    assert added["kind"] == "mirror" and added["path"] == str(sm_home / "repos" / "proj.git")
    local = sm_json("repo", "add", str(upstream), "--name", "up")
    assert local["kind"] == "local" and local["path"] == str(upstream)
    assert sm("repo", "add", str(remote), "--name", "proj", check=False).returncode == 1
    assert sm("repo", "add", "not a repo!", check=False).returncode == 2
    assert [r["name"] for r in sm_json("repo", "list")] == ["proj", "up"]

    # a new upstream commit is fetched before the worktree is cut, from any directory
    Path(upstream, "app.py").write_text("def main():\n    return 'new'\n")
    git(upstream, "commit", "-qam", "upstream moved")
    git(upstream, "push", "-q", str(remote), "main")
    rec = shell(sm, "r1", "--repo", "proj", "--worktree", "--cwd", "/")
    assert rec["cwd"] == str(sm_home / "worktrees" / "proj" / "r1")
    assert git(rec["cwd"], "log", "-1", "--format=%s") == "upstream moved"
    assert git(rec["cwd"], "branch", "--show-current") == "sm/r1"
    assert not Path(rec["cwd"], ".env").exists()  # a mirror has nothing ignored to copy
    listed = sm_json("worktree", "list")
    assert listed[0]["base"] == "origin/main" and listed[0]["repo"] == "proj"

    refused = sm("repo", "rm", "proj", check=False)
    assert refused.returncode == 1 and "worktree" in refused.stderr
    sm("kill", "r1")
    sm("worktree", "gc")
    sm("repo", "rm", "proj")
    assert not (sm_home / "repos" / "proj.git").exists()
    sm("repo", "rm", "up")
    assert upstream.exists()
    assert sm_json("repo", "list") == []
