"""Locks through the real CLI and the real hooks: write-time enforcement in scripted
agents, all-or-nothing, aliases, directories, waits and deadlocks, leases dying with
their holder or their TTL, and the git pre-commit guard."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SM_BIN = Path(sys.executable).with_name("sm")

Json = Callable[..., Any]

SCRIPT = {
    "rules": [
        {"match": "write A", "actions": [
            {"write": {"path": "shared.txt", "content": "from A\n"}},
            {"say": "done {prompt}"}]},
        {"match": "write B", "actions": [
            {"write": {"path": "shared.txt", "content": "from B\n"}},
            {"say": "done {prompt}"}]},
        {"match": "release", "actions": [{"run": "sm unlock"}, {"say": "done {prompt}"}]},
        {"match": "reset", "actions": [
            {"run": "git checkout -- . && echo reset-$((40+2))"}, {"say": "done {prompt}"}]},
    ],
}


@pytest.fixture
def work(sm_home: Path) -> Path:
    """A git repo for the agents to work in."""
    repo = sm_home / "work"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "shared.txt").write_text("original\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "init")
    return repo


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True,
                          text=True, env=env).stdout


@pytest.fixture
def as_session(sm_env: dict[str, str], session_env: Callable[[str], dict[str, str | None]]):
    """``as_session(session_id, *args, cwd=..., check=True)``: run ``sm`` with that
    session's identity, from ``cwd``."""

    def run(sid: str, *args: str, cwd: Path, check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {**sm_env, **{k: v for k, v in session_env(sid).items() if v}}
        proc = subprocess.run([str(SM_BIN), *args], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"sm {args} exited {proc.returncode}: {proc.stderr}")
        return proc

    return run


def shell(sm: Callable[..., Any], name: str, cwd: Path) -> dict[str, Any]:
    out = sm("spawn", "shell", "--name", name, "--cwd", str(cwd), "--json", "--", "sleep", "600")
    return json.loads(out.stdout)


def locks(sm_json: Json) -> list[tuple[str, str]]:
    return [(i["holder"], i["path"]) for i in sm_json("locks")["items"]]


def turn(sm: Callable[..., Any], wait_state: Callable[..., Any], name: str, prompt: str) -> None:
    sm("send", name, prompt)
    wait_state(name, "idle", timeout=15,
               where=lambda r: (r["last_message"] or "").endswith(prompt))


def test_second_writer_is_refused_naming_the_holder_then_gets_it_after_release(
    sm, sm_json, spawn, script_file, wait_state, wait_until, work: Path,
) -> None:
    script = script_file(SCRIPT)
    spawn("--name", "alpha", "--cwd", str(work), script=script)
    spawn("--name", "beta", "--cwd", str(work), script=script)
    target = str((work / "shared.txt").resolve())

    turn(sm, wait_state, "alpha", "write A 1")
    assert (work / "shared.txt").read_text() == "from A\n"
    assert locks(sm_json) == [("alpha", target)]  # taken on its own at write time

    turn(sm, wait_state, "beta", "write B 1")
    assert (work / "shared.txt").read_text() == "from A\n"  # the write never happened
    screen = sm("output", "beta", "-n", "200").stdout
    assert "Refused: sm: refused to write" in screen
    assert f"{target} held by alpha" in " ".join(screen.split())
    refused = [e for e in sm_json("events", "beta", "-n", "200") if e["kind"] == "lock"]
    assert refused[-1]["payload"]["action"] == "refused"
    assert refused[-1]["payload"]["auto"] is True

    turn(sm, wait_state, "alpha", "release 1")  # alpha runs `sm unlock` in its shell
    wait_until(lambda: locks(sm_json) == [], timeout=5)

    turn(sm, wait_state, "beta", "write B 2")
    assert (work / "shared.txt").read_text() == "from B\n"
    assert locks(sm_json) == [("beta", target)]
    assert sm_json("locks", "--session", "beta")["items"][0]["auto"] is True


def test_destructive_git_needs_the_whole_workspace(
    sm, sm_json, spawn, script_file, wait_state, work: Path,
) -> None:
    script = script_file(SCRIPT)
    spawn("--name", "alpha", "--cwd", str(work), script=script)
    spawn("--name", "beta", "--cwd", str(work), script=script)
    turn(sm, wait_state, "alpha", "write A 1")
    turn(sm, wait_state, "beta", "reset 1")
    screen = " ".join(sm("output", "beta", "-n", "200").stdout.split())
    assert "Refused: sm: `git checkout` rewrites the whole working tree" in screen
    assert "reset-42" not in screen
    assert (work / "shared.txt").read_text() == "from A\n"  # alpha's work survived

    turn(sm, wait_state, "alpha", "release 1")
    turn(sm, wait_state, "beta", "reset 2")
    assert "reset-42" in sm("output", "beta", "-n", "200").stdout
    assert (work / "shared.txt").read_text() == "original\n"
    held = sm_json("locks")["items"]
    assert [(i["holder"], i["kind"], i["path"]) for i in held] == [
        ("beta", "workspace", str(work.resolve()))]


def test_all_or_nothing_aliases_and_directories(
    sm, sm_json, as_session, work: Path,
) -> None:
    a, b = shell(sm, "a", work), shell(sm, "b", work)
    (work / "src").mkdir()
    (work / "src" / "f.py").write_text("")
    (work / "link").symlink_to(work / "src")
    as_session(a["id"], "lock", "src/f.py", "--reason", "refactor", cwd=work)

    # several paths: all or none
    proc = as_session(b["id"], "lock", "free.txt", "link/f.py", cwd=work, check=False)
    assert proc.returncode == 1
    assert f"{work.resolve()}/src/f.py held by a (refactor)" in proc.stderr
    assert sm_json("locks", "--session", "b")["items"] == []

    # a symlink and a relative path name the same file
    for path, cwd in (("f.py", work / "src"), ("./link/../src/f.py", work),
                      (str(work / "link" / "f.py"), Path("/"))):
        refused = as_session(b["id"], "lock", path, cwd=cwd, check=False)
        assert refused.returncode == 1 and "held by a" in refused.stderr, (path, refused.stderr)

    # a directory lock conflicts with a file beneath it, and the reverse
    assert as_session(b["id"], "lock", "src", cwd=work, check=False).returncode == 1
    assert as_session(b["id"], "lock", "--workspace", cwd=work / "src", check=False).returncode == 1
    as_session(b["id"], "lock", "docs", cwd=work)
    deep = as_session(a["id"], "lock", "docs/deep/x.md", cwd=work, check=False)
    assert deep.returncode == 1 and f"{work.resolve()}/docs held by b" in deep.stderr

    # the operator inspects, may not lock, and may force-unlock
    assert sm("lock", "x", check=False).returncode == 1
    assert sorted(locks(sm_json)) == [("a", f"{work.resolve()}/src/f.py"),
                                      ("b", f"{work.resolve()}/docs")]
    sm("unlock", "--force", str(work / "docs"))
    assert locks(sm_json) == [("a", f"{work.resolve()}/src/f.py")]
    forced = [e for e in sm_json("events", "b", "-n", "100") if e["kind"] == "lock"][-1]
    assert forced["payload"] == {"action": "released", "paths": [f"{work.resolve()}/docs"],
                                 "reason": "force-unlocked", "by": "operator"}


def test_wait_is_woken_by_the_release_and_a_deadlock_is_refused_with_its_cycle(
    sm, sm_json, sm_env, session_env, as_session, wait_until, work: Path,
) -> None:
    a, b = shell(sm, "a", work), shell(sm, "b", work)
    as_session(a["id"], "lock", "x", cwd=work)
    as_session(b["id"], "lock", "y", cwd=work)
    env = {**sm_env, **{k: v for k, v in session_env(a["id"]).items() if v}}
    waiter = subprocess.Popen([str(SM_BIN), "lock", "y", "--wait", "30", "--json"], cwd=work,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: sm_json("locks")["waiting"], timeout=10)
        assert sm_json("locks")["waiting"] == [
            {"session_id": a["id"], "paths": [str(work.resolve() / "y")], "holder": "a"}]

        started = time.monotonic()
        dead = as_session(b["id"], "lock", "x", "--wait", "30", cwd=work, check=False)
        assert time.monotonic() - started < 5  # refused at once, not after the wait
        assert dead.returncode == 1
        w = work.resolve()
        assert dead.stderr.strip() == (
            f"sm: deadlock: b holds {w}/y and waits for {w}/x held by a; "
            f"a holds {w}/x and waits for {w}/y held by b")
        codes = [e["payload"]["action"] for e in sm_json("events", "b", "-n", "50")
                 if e["kind"] == "lock"]
        assert codes[-1] == "deadlock"

        released = time.monotonic()
        as_session(b["id"], "unlock", "y", cwd=work)
        out, err = waiter.communicate(timeout=10)
        assert waiter.returncode == 0, err
        assert time.monotonic() - released < 2  # woken by the release, not a poll
        assert [i["path"] for i in json.loads(out)] == [f"{w}/y"]
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.communicate()

    timed = as_session(b["id"], "lock", "y", "--wait", "0.5", cwd=work, check=False)
    assert timed.returncode == 1
    assert f"timed out after 0.5s waiting for {w}/y held by a" in timed.stderr


def test_a_killed_holder_loses_its_locks_at_once(
    sm, sm_json, spawn, script_file, wait_state, wait_until, as_session, work: Path,
) -> None:
    spawn("--name", "alpha", "--cwd", str(work), script=script_file(SCRIPT))
    other = shell(sm, "other", work)
    as_session(other["id"], "lock", "a.txt", "b.txt", cwd=work)
    turn(sm, wait_state, "alpha", "write A 1")
    assert sorted(h for h, _ in locks(sm_json)) == ["alpha", "other", "other"]
    killed = time.monotonic()
    sm("kill", "alpha")
    sm("kill", "other")
    wait_until(lambda: locks(sm_json) == [], timeout=10)
    assert time.monotonic() - killed < 10
    last = [e for e in sm_json("events", "other", "-n", "50") if e["kind"] == "lock"][-1]
    w = work.resolve()
    assert last["payload"] == {"action": "released", "paths": [f"{w}/a.txt", f"{w}/b.txt"],
                               "reason": "session stopped", "by": None}


def test_a_crashed_holder_loses_its_locks_within_seconds(
    sm, sm_json, spawn, script_file, wait_state, wait_until, tmux, work: Path,
) -> None:
    rec = spawn("--name", "alpha", "--cwd", str(work), script=script_file(SCRIPT))
    turn(sm, wait_state, "alpha", "write A 1")
    assert [h for h, _ in locks(sm_json)] == ["alpha"]
    pane_pid = int(tmux("list-panes", "-t", f"=sm-{rec['id']}", "-F", "#{pane_pid}")
                   .stdout.split()[0])
    killed = time.monotonic()
    os.kill(pane_pid, signal.SIGKILL)  # the agent this test started crashes
    wait_until(lambda: locks(sm_json) == [], timeout=10)
    assert time.monotonic() - killed < 10
    last = [e for e in sm_json("events", "alpha", "-n", "50") if e["kind"] == "lock"][-1]
    assert last["payload"]["action"] == "released"
    assert last["payload"]["reason"] in ("session exited", "session error")


def test_ttl_expiry_and_idle_release_of_auto_locks(
    sm, sm_json, sm_home: Path, as_session, spawn, script_file, wait_state, wait_until,
    work: Path,
) -> None:
    (sm_home / "config.yaml").write_text("locks:\n  auto_release_idle: 1\n")
    a = shell(sm, "a", work)
    as_session(a["id"], "lock", "t.txt", "--ttl", "1", cwd=work)
    as_session(a["id"], "lock", "keep.txt", cwd=work)
    granted = time.monotonic()
    wait_until(lambda: len(locks(sm_json)) == 1, timeout=5)
    assert 0.8 < time.monotonic() - granted < 4
    assert locks(sm_json) == [("a", str(work.resolve() / "keep.txt"))]
    expired = [e["payload"] for e in sm_json("events", "a", "-n", "50") if e["kind"] == "lock"]
    assert {"action": "expired", "paths": [str(work.resolve() / "t.txt")],
            "reason": "ttl ran out", "by": None} in expired

    # an auto lock ends once its holder has been idle past locks.auto_release_idle
    spawn("--name", "alpha", "--cwd", str(work), script=script_file(SCRIPT))
    turn(sm, wait_state, "alpha", "write A 1")
    wait_until(lambda: ("alpha", str(work.resolve() / "shared.txt")) not in locks(sm_json),
               timeout=6)
    last = [e["payload"] for e in sm_json("events", "alpha", "-n", "50") if e["kind"] == "lock"]
    assert last[-1]["action"] == "expired" and last[-1]["reason"].startswith("idle")
    assert ("a", str(work.resolve() / "keep.txt")) in locks(sm_json)  # explicit: kept


def test_precommit_guard_refuses_a_commit_touching_anothers_lock(
    sm, sm_json, sm_env, session_env, as_session, work: Path,
) -> None:
    a, b = shell(sm, "a", work), shell(sm, "b", work)
    proc = subprocess.run([str(SM_BIN), "guard", "install"], cwd=work, env=sm_env,
                          capture_output=True, text=True, check=True)
    assert "pre-commit" in proc.stdout
    hook = work / ".git" / "hooks" / "pre-commit"
    assert os.access(hook, os.X_OK)
    as_session(a["id"], "lock", "shared.txt", "--reason", "mine", cwd=work)
    (work / "shared.txt").write_text("changed\n")
    (work / "other.txt").write_text("free\n")

    def commit(sid: str | None, *paths: str) -> subprocess.CompletedProcess[str]:
        env = {**sm_env, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
        if sid:
            env.update({k: v for k, v in session_env(sid).items() if v})
        git(work, "add", *paths)
        return subprocess.run(["git", "-C", str(work), "commit", "-q", "-m", "x"], env=env,
                              capture_output=True, text=True)

    refused = commit(b["id"], "shared.txt")
    assert refused.returncode != 0
    assert "commit refused" in refused.stderr
    assert f"{work.resolve()}/shared.txt held by a (mine)" in refused.stderr
    assert commit(None, "shared.txt").returncode != 0  # a human is refused too
    assert commit(a["id"], "shared.txt").returncode == 0, "the holder commits its own file"
    assert commit(b["id"], "other.txt").returncode == 0, "unlocked files pass"
    assert git(work, "log", "--format=%s").split() == ["x", "x", "init"]


def test_guard_install_takes_a_repo_path_or_a_registered_name(
    sm, sm_json, sm_home: Path, work: Path
) -> None:
    out = json.loads(sm("guard", "install", str(work), "--json").stdout)
    assert out == {"path": str(work / ".git" / "hooks" / "pre-commit")}
    (work / ".git" / "hooks" / "pre-commit").unlink()
    sm("repo", "add", str(work), "--name", "proj")
    sm("guard", "install", "proj")
    assert os.access(work / ".git" / "hooks" / "pre-commit", os.X_OK)
    bad = sm("guard", "install", "nowhere", check=False)
    assert (bad.returncode, bad.stderr) == (1, "sm: no repo 'nowhere': neither a directory "
                                               "nor a registered repo (see: sm repo list)\n")
