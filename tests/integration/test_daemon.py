"""The daemon's life: started on demand, one per SM_HOME, survives ``kill -9``, and
records what happened while it was away."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

SM_BIN = str(Path(sys.executable).with_name("sm"))


def _spooled_events(home: Path) -> list[str]:
    path = home / "spool" / "hooks.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["event"] for line in path.read_text().splitlines() if line]


def test_any_command_starts_the_daemon(sm, sm_json, sm_home: Path, daemon_pid, pid_alive):
    assert sm_json("daemon", "status") == {"ok": False}
    assert sm("daemon", "status", check=False).returncode == 1
    assert sm_json("me") == {"operator": True}
    pid = daemon_pid()
    assert pid is not None and pid_alive(pid)
    health = sm_json("daemon", "status")
    assert health["ok"] is True and health["pid"] == pid
    assert health["home"] == str(sm_home)
    sock = sm_home / "sm.sock"
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sm_home.stat().st_mode) == 0o700


def test_daemon_stop_removes_its_socket_and_pid_file(
    sm, sm_json, sm_home: Path, daemon_pid, pid_alive, wait_until
) -> None:
    sm("daemon", "start")
    pid = daemon_pid()
    assert pid is not None
    out = sm("daemon", "stop")
    assert out.stdout.strip() == f"sm daemon stopped (pid {pid})"
    wait_until(lambda: not pid_alive(pid), message="the daemon to exit")
    assert not (sm_home / "sm.sock").exists()
    assert not (sm_home / "daemon.pid").exists()


def test_a_second_daemon_on_one_home_is_refused(
    sm, sm_json, sm_home: Path, daemon_pid, pid_alive
) -> None:
    sm("daemon", "start")
    pid = daemon_pid()
    out = sm("daemon", "run", check=False, timeout=30)
    assert out.returncode != 0
    assert out.stderr.strip() == f"sm: an sm daemon already runs for {sm_home} (pid {pid})"
    # the first one is untouched and still serves
    assert daemon_pid() == pid and pid_alive(pid)
    assert sm_json("daemon", "status")["pid"] == pid


def test_concurrent_starts_end_with_one_daemon(sm_env, sm_home: Path, sm_json, daemon_pid):
    procs = [
        subprocess.Popen([SM_BIN, "me", "--json"], env=sm_env, cwd=sm_home, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
        for _ in range(4)
    ]
    results = [(*p.communicate(timeout=60), p.returncode) for p in procs]
    assert [(out.strip(), err.strip(), code) for out, err, code in results] == [
        ('{"operator": true}', "", 0)] * 4
    assert sm_json("daemon", "status")["pid"] == daemon_pid()


def test_a_start_that_loses_the_race_waits_for_the_winner(
    sm, sm_env, sm_home: Path, wait_until
) -> None:
    log = sm_home / "logs" / "daemon.out"
    fd = os.open(sm_home / "daemon.lock", os.O_RDWR | os.O_CREAT, 0o600)
    proc = None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a daemon that won the lock and is still starting
        proc = subprocess.Popen([SM_BIN, "me", "--json"], env=sm_env, cwd=sm_home,
                                text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
        wait_until(lambda: log.exists() and "already runs" in log.read_text(),
                   message="the caller's own daemon to lose the lock")
        os.close(fd)
        fd = -1
        sm("daemon", "start")  # the winner answers now
        out, err = proc.communicate(timeout=30)
        assert (proc.returncode, out.strip(), err) == (0, '{"operator": true}', "")
    finally:
        if fd != -1:
            os.close(fd)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_stale_socket_and_pid_file_are_replaced(
    sm, sm_json, sm_home: Path, daemon_pid, pid_alive, wait_until
) -> None:
    sm("daemon", "start")
    old = daemon_pid()
    assert old is not None
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: not pid_alive(old), message="the daemon to die")
    assert (sm_home / "sm.sock").exists() and daemon_pid() == old  # both stale now
    assert sm_json("daemon", "status") == {"ok": False}

    assert sm_json("list") == []
    new = daemon_pid()
    assert new is not None and new != old and pid_alive(new)
    assert sm_json("daemon", "status")["pid"] == new
    assert stat.S_IMODE((sm_home / "sm.sock").stat().st_mode) == 0o600


def test_daemon_killed_9_loses_nothing(
    sm, sm_json, spawn, type_prompt, wait_state, tmux, events, daemon_pid, pid_alive,
    wait_until, sm_home: Path,
) -> None:
    live = spawn("--name", "live")
    gone = spawn("--name", "gone")
    sm("kill", "gone")
    last = events("live")[-1]["seq"]
    old = daemon_pid()
    assert old is not None
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: not pid_alive(old), message="the daemon to die")

    # a whole turn while no daemon listens: its hooks go to the spool
    type_prompt(live["id"], "while you were out")
    wait_until(lambda: _spooled_events(sm_home)[-1:] == ["Stop"], message="a spooled Stop")

    listed = {s["name"]: (s["id"], s["state"]) for s in sm_json("list")}
    assert listed == {"live": (live["id"], "idle"), "gone": (gone["id"], "stopped")}
    new = daemon_pid()
    assert new is not None and new != old
    assert sm_json("status", "live")["last_message"] == "ok: while you were out"
    assert events("live", after=last, summary=True) == [
        ("hook", "UserPromptSubmit"), ("state", "running"), ("hook", "Stop"), ("state", "idle")]

    # the agent lives on in sm's tmux server and its hooks reach the new daemon
    assert tmux("has-session", "-t", f"=sm-{live['id']}", check=False).returncode == 0
    last = events("live")[-1]["seq"]
    type_prompt(live["id"], "welcome back")
    wait_state("live", "idle", where=lambda r: r["last_message"] == "ok: welcome back")
    assert events("live", after=last, summary=True) == [
        ("hook", "UserPromptSubmit"), ("state", "running"), ("hook", "Stop"), ("state", "idle")]


def _crash_while_away(spawn, script_file, type_prompt, stop_daemon, pane_exit, wait_until,
                      sm_home: Path, events) -> tuple[dict, int]:
    script = script_file({"rules": [{"match": "crash", "actions": [
        {"say": "going down"}, {"crash": 3}]}]})
    rec = spawn("--name", "faller", script=script)
    last = events("faller")[-1]["seq"]
    stop_daemon()
    type_prompt(rec["id"], "crash now")
    assert pane_exit(rec["id"]) == 3
    wait_until(lambda: "pane-died" in _spooled_events(sm_home), message="a spooled pane-died")
    assert _spooled_events(sm_home) == ["UserPromptSubmit", "pane-died"]
    return rec, last


def test_an_agent_that_died_while_the_daemon_was_away_is_recorded(
    sm_json, spawn, script_file, type_prompt, stop_daemon, pane_exit, wait_until,
    sm_home: Path, events,
) -> None:
    rec, _ = _crash_while_away(spawn, script_file, type_prompt, stop_daemon, pane_exit,
                               wait_until, sm_home, events)
    back = sm_json("status", rec["id"])
    assert (back["state"], back["exit_status"]) == ("error", 3)


def test_spooled_hooks_are_applied_before_the_death_they_preceded(
    sm_json, spawn, script_file, type_prompt, stop_daemon, pane_exit, wait_until,
    sm_home: Path, events,
) -> None:
    rec, last = _crash_while_away(spawn, script_file, type_prompt, stop_daemon, pane_exit,
                                  wait_until, sm_home, events)
    sm_json("status", rec["id"])
    assert events(rec["id"], after=last, summary=True) == [
        ("hook", "UserPromptSubmit"), ("state", "running"), ("state", "error")]


# -- sm's tmux server ends with the daemon when no agent runs in it -------------------------
def _server_up(tmux) -> bool:
    return tmux("list-sessions", check=False).returncode == 0


def _socket_file(tmux_socket: str) -> Path:
    return Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}" / tmux_socket


def test_daemon_stop_ends_a_tmux_server_where_nothing_was_spawned(
    sm, tmux, tmux_socket, stop_daemon, wait_until
) -> None:
    sm("daemon", "start")
    assert _server_up(tmux)
    stop_daemon()
    wait_until(lambda: not _server_up(tmux), message="sm's tmux server to exit")
    assert not _socket_file(tmux_socket).exists()


def test_daemon_stop_ends_the_tmux_server_once_every_session_is_killed(
    sm, spawn, tmux, tmux_socket, stop_daemon, wait_until
) -> None:
    spawn("--name", "a")
    spawn("--name", "b")
    sm("kill", "a")
    sm("kill", "b")
    stop_daemon()
    wait_until(lambda: not _server_up(tmux), message="sm's tmux server to exit")
    assert not _socket_file(tmux_socket).exists()


def test_daemon_stop_keeps_the_tmux_server_while_an_agent_runs(
    sm, sm_json, spawn, tmux, stop_daemon
) -> None:
    rec = spawn("--name", "stays")
    stop_daemon()
    assert _server_up(tmux)
    assert tmux("has-session", "-t", f"=sm-{rec['id']}", check=False).returncode == 0
    assert sm_json("status", "stays")["state"] == "idle"  # the next daemon finds it alive


def test_the_end_of_run_check_finds_and_removes_what_was_left(sm_env) -> None:
    """The check the root conftest runs when the suite ends (tests/leftovers.py)."""
    import tempfile

    import leftovers

    home = Path(tempfile.mkdtemp(prefix="sm-", dir="/tmp"))
    made = leftovers.Made(homes=[home])
    try:
        env = {**sm_env, "SM_HOME": str(home)}
        subprocess.run([SM_BIN, "spawn", "scripted", "--name", "left"], env=env, check=True,
                       capture_output=True, timeout=60)
        left = leftovers.find(made)
        assert any(x.startswith("process ") and "daemon run" in x for x in left), left
        assert any(x.startswith("tmux server -L sm-") for x in left), left
        assert f"SM_HOME {home}" in left
    finally:
        leftovers.clean(made)
    assert leftovers.find(made) == []


def test_daemon_stop_says_when_the_daemon_outlasts_the_timeout(
    sm, sm_json, daemon_pid, pid_alive, wait_until
) -> None:
    sm("daemon", "start")
    pid = daemon_pid()
    out = sm_json("daemon", "stop", "--timeout", "0")
    assert out == {"pid": pid, "stopped": False}  # asked, not yet gone: it goes on its own
    wait_until(lambda: not pid_alive(pid), message="the daemon to exit")
    assert sm("daemon", "stop").stdout.strip() == "sm daemon is not running"


def test_daemon_killed_9_takes_its_tmux_control_client_with_it(
    sm, tmux, daemon_pid, pid_alive, wait_until,
) -> None:
    """The control client dies with its daemon even when it could not notice by itself
    (stopped here; in life, wedged on a write): a client left attached keeps a server
    told to exit from ever exiting, and every later start of it fails."""
    sm("daemon", "start")
    listed = tmux("list-clients", "-F", "#{client_pid} #{client_control_mode}").stdout.split("\n")
    clients = [int(line.split()[0]) for line in listed if line.endswith(" 1")]
    assert len(clients) == 1, listed
    os.kill(clients[0], signal.SIGSTOP)
    try:
        old = daemon_pid()
        assert old is not None
        os.kill(old, signal.SIGKILL)
        wait_until(lambda: not pid_alive(old), message="the daemon to die")
        wait_until(lambda: not pid_alive(clients[0]), timeout=5,
                   message="the control client to end with its daemon")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(clients[0], signal.SIGCONT)
    assert tmux("has-session", "-t", "=sm-control", check=False).returncode == 0  # server lives on
