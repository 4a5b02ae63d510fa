"""sm driving the real Codex CLI (0.169.0) against the scripted Responses API server:
readiness from the screen (Codex's SessionStart waits for the first prompt), turns ended
by the Stop hook and ``notify`` (its title thread filtered out), the delivery modes, and
an orchestrator (Claude Code) with a Codex worker.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
from model_servers import Bash, Sleep, Text, Tool, Turn

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("codex_bin")]

Json = Callable[..., Any]


def hooks(events: Json, ref: str, name: str) -> list[dict[str, Any]]:
    return [e["payload"] for e in events(ref, kinds=("hook",))
            if e["payload"]["event"] == name]


def prompts_with(models: Any, text: str) -> list[str]:
    return [p for p in models.openai.prompts() if text in p]


def test_spawn_send_and_turn_complete(spawn_agent, wait_state, events, models, send,
                                      message_state, sm_home):
    work = sm_home / "work"
    models.openai.add(Turn("make a file", [Bash("echo hi > made.txt"), Text("codex made it")]))
    t0 = time.monotonic()
    rec = spawn_agent("codex", "cx")
    ready = time.monotonic() - t0
    assert [e["payload"]["signal"] for e in events("cx", kinds=("state",))] == ["ready"]
    assert not (sm_home / "sessions" / rec["id"] / "codex" / "packages").exists()  # --no-daemon

    m = send("cx", "make a file please")
    message_state(m["id"], "delivered")
    done = wait_state("cx", "idle", where=lambda r: r["last_message"] == "codex made it")
    assert (work / "made.txt").read_text() == "hi\n"
    start = hooks(events, "cx", "SessionStart")[0]["data"]
    assert done["conversation_id"] == start["session_id"]  # the thread id, from its hooks
    assert done["transcript_path"] == start["transcript_path"]
    # notify arrives for the session's thread (a duplicate of its Stop) and for Codex's own
    # title thread: neither moves the state or overwrites what the Stop recorded
    time.sleep(1.0)
    notes = hooks(events, "cx", "agent-turn-complete")
    assert notes and all(n.get("ignored") for n in notes)
    assert {n["data"]["thread-id"] for n in notes if n["ignored"] == "turn already ended"} \
        == {start["session_id"]}
    after = [e for e in events("cx", kinds=("state",))][-1]["payload"]
    assert (after["to"], after["signal"]) == ("idle", "Stop")
    assert prompts_with(models, "make a file") == [f"[sm {m['id']} from operator] "
                                                   "make a file please"]
    print(f"[timing] codex spawn → idle {ready * 1000:.0f} ms")


def test_send_modes_into_idle_and_busy(spawn_agent, wait_state, models, send, message_state,
                                       events):
    for i in range(3):
        models.openai.add(Turn(f"slow {i}", [Sleep(2.5), Text("slow done")]))
    spawn_agent("codex", "w")
    multi = "first line\nsecond line\n\n  indented — ünïcödé ✓ 日本語"
    big = "10KB " + "".join(f"{i:05d}abcde" for i in range(1000)) + " END"
    sent = []
    for mode, body in (("", multi), ("--important", big), ("--urgent", "Enter")):
        m = send("w", body, *([mode] if mode else []))
        assert message_state(m["id"], "delivered")["attempts"] == 1
        wait_state("w", "idle", where=lambda r: r["last_message"] == "OK.")
        sent.append((m, body))
    for i, mode in enumerate(("", "--important", "--urgent")):
        slow = send("w", f"slow {i}")
        wait_state("w", "running")
        body = f"busy {mode or '--sequential'}"
        m = send("w", body, *([mode] if mode else []))
        assert message_state(m["id"], "delivered")["attempts"] == 1
        wait_state("w", "idle", timeout=20, where=lambda r: r["last_message"] == "OK.")
        sent.append((m, body))
        sent.append((slow, f"slow {i}"))
        if mode == "--urgent":  # Escape: Codex reports it with its Interrupt hook
            assert hooks(events, "w", "Interrupt")
    for m, body in sent:
        seen = [p for p in prompts_with(models, f"[sm {m['id']} ")]
        assert seen, m["id"]
        assert f"[sm {m['id']} from operator] {body}" in seen[0]
    # typed once: each message is one user message in the thread's final history
    history = str(models.openai.conversation_requests()[-1].body["input"])
    for m, _ in sent:
        assert history.count(f"[sm {m['id']} ") == 1, m["id"]


def test_orchestrator_with_a_codex_worker(spawn_agent, sm_json, wait_state, models, send,
                                          sm_home, claude_bin):
    work = sm_home / "work"
    models.anthropic.add(
        Turn("start the project", [
            Bash(f"sm spawn codex --name cw --cwd {work}", "start a Codex worker"),
            Bash("sm dispatch cw --no-clear --role engineer --task 'build the gadget'",
                 "dispatch"),
            Text("dispatched"),
        ]),
        Turn("progress: gadget built", [
            Bash("sm send cw 'now test the gadget'", "ask for tests"), Text("asked")]),
        Turn("cw stopped: gadget tested", [Text("all done")]),
    )
    models.openai.add(
        Turn("build the gadget", [Bash("echo gadget > gadget.txt"),
                                  Bash("sm send em 'progress: gadget built'"),
                                  Text("gadget done")]),
        Turn("now test the gadget", [Text("gadget tested")]),
    )
    em = spawn_agent("claude", "em")
    send("em", "start the project")
    wait_state("em", "idle", timeout=60, where=lambda r: r["last_message"] == "all done")
    cw = sm_json("status", "cw")
    assert cw["parent_id"] == em["id"] and cw["last_message"] == "gadget tested"
    assert (work / "gadget.txt").read_text() == "gadget\n"
    got = [(m["from"], m["body"]) for m in sm_json("messages", "--to", "em")]
    assert got == [("operator", "start the project"), ("cw", "progress: gadget built"),
                   ("sm", "cw stopped: gadget tested")]


def test_approval_prompt_is_never_typed_into(sm, spawn_agent, wait_state, models, send,
                                             message_state, tmux, screen, events, sm_home):
    work = sm_home / "work"
    ask = {"sandbox_permissions": "require_escalated", "justification": "needs approval"}
    models.openai.add(
        Turn("risky one", [Tool("exec_command", {"cmd": "echo one > one.txt", **ask}),
                           Text("wrote one")]),
        Turn("risky two", [Tool("exec_command", {"cmd": "echo two > two.txt", **ask}),
                           Text("wrote two")]),
    )
    # this test's daemon: Codex asks before a command leaves its sandbox
    sm("daemon", "start", env={"SM_CODEX_APPROVAL_POLICY": "on-request",
                               "SM_CODEX_SANDBOX_MODE": "workspace-write"})
    agent = spawn_agent("codex", "p")
    send("p", "risky one")
    wait_state("p", "waiting_permission")
    queued = send("p", "are you there", "--important")
    time.sleep(1.5)
    held = message_state(queued["id"], "queued")
    assert "permission" in held["reason"] and "are you there" not in screen("p")
    tmux("send-keys", "-t", f"={agent['tmux_session']}:", "y")  # a person approves
    message_state(queued["id"], "delivered")
    wait_state("p", "idle", where=lambda r: r["last_message"] == "OK.")
    assert (work / "one.txt").read_text() == "one\n"

    send("p", "risky two")
    wait_state("p", "waiting_permission")
    queued = send("p", "after the refusal")
    tmux("send-keys", "-t", f"={agent['tmux_session']}:", "Escape")  # refused: Interrupt
    message_state(queued["id"], "delivered")
    wait_state("p", "idle", where=lambda r: r["last_message"] == "OK.")
    assert not (work / "two.txt").exists()
    assert hooks(events, "p", "Interrupt")


def test_crash_then_restore_resumes_the_thread(sm, spawn_agent, wait_state, models, send,
                                               message_state, tmux, events):
    models.openai.add(Turn("remember the number", [Text("noted: 4711")]),
                      Turn("after restore", [Text("resumed fine")]))
    first = spawn_agent("codex", "r", "remember the number 4711")
    done = wait_state("r", "idle", where=lambda r: r["last_message"] == "noted: 4711")
    pid = int(tmux("display-message", "-p", "-t", f"={first['tmux_session']}:",
                   "#{pane_pid}").stdout)
    os.kill(pid, signal.SIGKILL)
    wait_state("r", "exited", "error", timeout=15)
    sm("restore", "r")
    wait_state("r", "idle", timeout=30)  # from the screen: SessionStart waits for a prompt
    time.sleep(1.0)
    assert len(prompts_with(models, "remember the number")) == 1  # never sent again
    m = send("r", "hello after restore")
    message_state(m["id"], "delivered")
    back = wait_state("r", "idle", where=lambda r: r["last_message"] == "resumed fine")
    assert hooks(events, "r", "SessionStart")[-1]["data"]["source"] == "resume"
    assert back["conversation_id"] == done["conversation_id"]
    history = str(models.openai.conversation_requests()[-1].body["input"])
    assert "remember the number 4711" in history and "noted: 4711" in history
