"""An agent that dies with no hook leaves nothing hanging: its state says so, its locks
are freed, its queued messages fail with a reason, and its open questions are withdrawn."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any

from conftest import SM_BIN
from test_agent_truth import SLOW
from test_delivery import send


def test_a_dead_agent_frees_its_locks_fails_its_messages_and_withdraws_its_questions(
        spawn, script_file, sm, sm_json, sm_home, session_env, wait_state, wait_until,
        tmux, sm_env) -> None:
    work = sm_home / "work"
    work.mkdir()
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    w = spawn("--name", "w", "--cwd", str(work), script=script_file({"rules": [SLOW]}))
    env: dict[str, Any] = {k: v for k, v in session_env(w["id"]).items() if v is not None}
    sm("lock", str(work / "held.txt"), env=env)
    # asked with the session's token from outside its pane (so not one of the processes
    # that end with the agent): it outlives the agent and hears the question withdrawn
    outside = {k: v for k, v in env.items() if k != "SM_SESSION_ID"}
    asking = subprocess.Popen([str(SM_BIN), "ask", "ship it?", "--timeout", "60"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**sm_env, **outside})
    try:
        wait_until(lambda: sm_json("asks"), message=lambda: "the question to be asked: "
                   + ("" if asking.poll() is None else asking.communicate()[1]))
        send(sm, "w", "slow")
        wait_state("w", "running")
        later = send(sm, "w", "after the slow one")
        assert sm_json("message", later["id"])["state"] == "queued"

        pid = int(tmux("display-message", "-p", "-t", f"={w['tmux_session']}:",
                       "#{pane_pid}").stdout)
        os.kill(pid, signal.SIGKILL)  # no hook can fire
        t0 = time.monotonic()
        dead = wait_state("w", "exited", "error", timeout=15)
        print(f"[timing] kill -9 → {dead['state']} {(time.monotonic() - t0) * 1000:.0f} ms")
        wait_until(lambda: not sm_json("locks")["items"], message="the lock to be freed")
        failed = wait_until(lambda: (m := sm_json("message", later["id"]))["state"] == "failed"
                            and m, message="the queued message to fail")
        assert failed["reason"]
        out, err = asking.communicate(timeout=20)
        assert asking.returncode == 1 and "withdrawn (sm: the asker is" in err, (out, err)
        assert sm_json("asks") == []
        withdrawn = [e["payload"] for e in sm_json("events", "w", "-n", "100")
                     if e["kind"] == "ask" and e["payload"].get("action") == "withdrawn"]
        assert len(withdrawn) == 1 and "the asker is" in withdrawn[0]["by"]
    finally:
        if asking.poll() is None:
            asking.kill()
            asking.wait()
