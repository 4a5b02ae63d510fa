"""sm driving the real Claude Code CLI (2.1.330) against the scripted Anthropic server:
spawn, turns, the three delivery modes, permission prompts, crash and restore, clear.

Everything goes through the real ``sm`` CLI and a real daemon; the model server's recorded
requests are what the model saw.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
from model_servers import Bash, Sleep, Text, Turn

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("claude_bin")]

Json = Callable[..., Any]


def header(message: dict[str, Any], sender: str = "operator") -> str:
    return f"[sm {message['id']} from {sender}] "


def prompts_with(models: Any, text: str) -> list[str]:
    """The turn-starting prompts the model got that contain ``text``."""
    return [p for p in models.anthropic.prompts() if text in p]


def hooks(events: Json, ref: str, name: str) -> list[dict[str, Any]]:
    return [e["payload"]["data"] for e in events(ref, kinds=("hook",))
            if e["payload"]["event"] == name]


def test_spawn_prompt_and_stop(spawn_agent, sm_json, wait_state, events, models, send,
                               message_state):
    models.anthropic.add(Turn("first task", [Text("first answer")]),
                         Turn("ping", [Text("pong from the model")]))
    t0 = time.monotonic()
    rec = spawn_agent("claude", "c1", "do the first task")
    ready = time.monotonic() - t0
    start = hooks(events, "c1", "SessionStart")[0]
    assert start["source"] == "startup"
    assert rec["conversation_id"] == start["session_id"]  # the agent's own id, from its hook
    # the spawn prompt is delivered once the composer is up, answered, and stored
    done = wait_state("c1", "idle", where=lambda r: r["last_message"] == "first answer")
    assert done["transcript_path"].startswith(f"{rec['cwd'].rsplit('/', 1)[0]}/sessions/")

    m = send("c1", "ping the model")
    message_state(m["id"], "delivered")
    done = wait_state("c1", "idle", where=lambda r: r["last_message"] == "pong from the model")
    changes = [(e["payload"]["to"], e["payload"]["signal"])
               for e in events("c1", kinds=("state",))]
    assert changes[-2:] == [("running", "UserPromptSubmit"), ("idle", "Stop")]
    assert prompts_with(models, "ping the model") == [header(m) + "ping the model"]
    assert models.anthropic.prompts()[0].endswith("do the first task")
    print(f"[timing] claude spawn → idle {ready * 1000:.0f} ms")


SLOW = [Text("working on it"), Sleep(2.5), Text("slow done")]


def test_send_modes_into_idle_and_busy(spawn_agent, sm_json, wait_state, models, send,
                                       message_state, events):
    for i in range(3):
        models.anthropic.add(Turn(f"slow {i}", SLOW))
    spawn_agent("claude", "w")
    multi = "first line\nsecond line\n\n  indented — ünïcödé ✓ 日本語"
    big = "10KB " + "".join(f"{i:05d}abcde" for i in range(1000)) + " END"
    sent = []
    # into an idle agent, each mode, with awkward bodies
    for mode, body in (("", multi), ("--important", big), ("--urgent", "Enter")):
        m = send("w", body, *([mode] if mode else []))
        assert message_state(m["id"], "delivered")["attempts"] == 1
        wait_state("w", "idle", where=lambda r: r["last_message"] == "OK.")
        sent.append((m, body))
    # into a busy agent: sequential waits for the turn's end, important is queued by the
    # agent mid-turn, urgent interrupts it
    for i, mode in enumerate(("", "--important", "--urgent")):
        slow = send("w", f"slow {i}")
        wait_state("w", "running")
        body = f"busy {mode or '--sequential'}"
        m = send("w", body, *([mode] if mode else []))
        got = message_state(m["id"], "delivered")
        assert got["attempts"] == 1
        if mode == "--urgent":
            signals = [e["payload"]["signal"] for e in events("w", kinds=("state",))]
            assert "interrupted" in signals
        wait_state("w", "idle", timeout=20, where=lambda r: r["last_message"] == "OK.")
        sent.append((m, body))
        sent.append((slow, f"slow {i}"))
    for m, body in sent:
        seen = prompts_with(models, f"[sm {m['id']} ")
        assert len(seen) == 1, (m["id"], seen)  # typed once, reached the model once
        assert header(m) + body in seen[0]  # verbatim (a big paste arrives wrapped)


def test_permission_prompt_is_never_typed_into(spawn_agent, sm_json, wait_state, models, send,
                                               message_state, screen, tmux, sm_home, events):
    work = sm_home / "work"
    models.anthropic.add(
        Turn("risky one", [Bash("echo one > one.txt", "write one"), Text("wrote one")]),
        Turn("risky two", [Bash("echo two > two.txt", "write two"), Text("wrote two")]),
    )
    agent = spawn_agent("claude", "p", "--permission-mode", "default")
    send("p", "risky one")
    wait_state("p", "waiting_permission")
    queued = send("p", "are you there", "--important")
    time.sleep(1.5)
    held = sm_json("message", queued["id"])
    assert held["state"] == "queued" and "permission" in held["reason"]
    assert "are you there" not in screen("p")
    assert not prompts_with(models, "are you there")
    tmux("send-keys", "-t", f"={agent['tmux_session']}:", "1")  # a person allows it
    message_state(queued["id"], "delivered")
    wait_state("p", "idle", where=lambda r: r["last_message"] == "OK.")
    assert (work / "one.txt").read_text() == "one\n"

    # refused: Claude Code ends that turn with no hook; sm sees the prompt come back
    send("p", "risky two")
    wait_state("p", "waiting_permission")
    queued = send("p", "after the refusal")
    tmux("send-keys", "-t", f"={agent['tmux_session']}:", "Escape")
    message_state(queued["id"], "delivered")
    wait_state("p", "idle", where=lambda r: r["last_message"] == "OK.")
    assert not (work / "two.txt").exists()
    assert len(prompts_with(models, "after the refusal")) == 1
    back = [e["payload"] for e in events("p", kinds=("state",))
            if e["payload"]["from"] == "waiting_permission"]
    assert [(b["to"], b["signal"]) for b in back] == [("running", "PostToolUse"),
                                                      ("idle", "interrupted")]


def test_crash_then_restore_resumes_the_conversation(spawn_agent, sm, sm_json, wait_state,
                                                     models, send, message_state, tmux,
                                                     events):
    models.anthropic.add(Turn("remember the number", [Text("noted: 4711")]),
                         Turn("after restore", [Text("resumed fine")]))
    first = spawn_agent("claude", "r", "remember the number 4711")
    wait_state("r", "idle", where=lambda r: r["last_message"] == "noted: 4711")
    pid = int(tmux("display-message", "-p", "-t", f"={first['tmux_session']}:",
                   "#{pane_pid}").stdout)
    os.kill(pid, signal.SIGTERM)  # the agent process goes away
    dead = wait_state("r", "exited", "error", timeout=15)
    assert dead["state"] == "exited"

    t0 = time.monotonic()
    sm("restore", "r")
    restored = wait_state("r", "idle", timeout=30)
    ready = time.monotonic() - t0
    resumed = hooks(events, "r", "SessionStart")[-1]
    assert resumed["source"] == "resume"
    assert restored["conversation_id"] == first["conversation_id"] == resumed["session_id"]
    time.sleep(1.0)
    assert len(prompts_with(models, "remember the number")) == 1  # never sent again

    m = send("r", "hello after restore")
    message_state(m["id"], "delivered")
    wait_state("r", "idle", where=lambda r: r["last_message"] == "resumed fine")
    history = str(models.anthropic.conversation_requests()[-1].body["messages"])
    assert "remember the number 4711" in history and "noted: 4711" in history
    print(f"[timing] claude restore → idle {ready * 1000:.0f} ms")


def test_clear_leaves_nothing_of_the_old_task(spawn_agent, sm, sm_json, wait_state, models,
                                              send, message_state, session_env, events,
                                              wait_until):
    models.anthropic.add(
        Turn("task A", [Text("A started"), Sleep(3), Text("A finished")]),
        Turn("task B", [Text("B finished")]),
        Turn("stopped: B finished", [Text("boss saw B")]),
    )
    spawn_agent("claude", "boss")
    boss = session_env(sm_json("status", "boss")["id"])
    rec = sm_json("spawn", "claude", "--name", "worker", "--cwd",
                  sm_json("status", "boss")["cwd"], env=boss)
    wait_state("worker", "idle", timeout=30)
    old_conv = sm_json("status", "worker")["conversation_id"]
    a = send("worker", "do task A", "--notify-on-stop", env=boss)
    wait_state("worker", "running")
    # interrupt a turn that has begun to stream: an Escape before that puts the prompt
    # back into Claude Code's composer (docs/delivery.md)
    wait_until(lambda: "A started" in sm("output", "worker").stdout, timeout=10)
    sm("clear", "worker", "--urgent", "do task B", env=boss)
    done = wait_state("worker", "idle", timeout=30,
                      where=lambda r: r["last_message"] == "B finished")
    assert done["conversation_id"] != old_conv
    wait_state("boss", "idle", where=lambda r: r["last_message"] == "boss saw B")
    time.sleep(1.0)
    to_boss = [m for m in sm_json("messages", "--to", "boss") if m["from"] == "sm"]
    assert [m["body"] for m in to_boss] == ["worker stopped: B finished"]
    assert sm_json("message", a["id"])["state"] == "delivered"
    # the new conversation starts empty: task A is nowhere in what the model saw for B
    b_request = next(r for r in models.anthropic.conversation_requests()
                     if "do task B" in r.prompt)
    assert "task A" not in str(b_request.body["messages"])
    assert rec["parent_id"] == sm_json("status", "boss")["id"]


def test_orchestrator_loop(spawn_agent, sm_json, wait_state, models, send, message_state,
                           sm_home):
    work = sm_home / "work"
    models.anthropic.add(
        # the orchestrator starts a worker and dispatches a task to it
        Turn("start the project", [
            Bash(f"sm spawn claude --name worker --cwd {work}", "start a worker"),
            Bash("sm dispatch worker --role engineer --task 'build the widget'", "dispatch"),
            Text("dispatched the worker"),
        ]),
        # the worker does it and reports back with sm send
        Turn("build the widget", [
            Bash("echo widget > widget.txt", "build"),
            Bash("sm send em 'progress: widget built'", "report"),
            Text("widget done"),
        ]),
        # woken by that message, the orchestrator asks for more (notify-on-stop: a child)
        Turn("progress: widget built", [
            Bash("sm send worker 'now write the docs'", "ask for docs"),
            Text("asked for docs"),
        ]),
        Turn("now write the docs", [Text("docs written")]),
        # woken by the worker's stop, with that turn's text
        Turn("worker stopped: docs written", [Text("all done")]),
    )
    em = spawn_agent("claude", "em")
    send("em", "start the project")
    wait_state("em", "idle", timeout=60, where=lambda r: r["last_message"] == "all done")
    worker = sm_json("status", "worker")
    assert worker["parent_id"] == em["id"] and worker["last_message"] == "docs written"
    assert (work / "widget.txt").read_text() == "widget\n"
    got = [(m["from"], m["body"]) for m in sm_json("messages", "--to", "em")]
    assert got == [("operator", "start the project"), ("worker", "progress: widget built"),
                   ("sm", "worker stopped: docs written")]
    # the first turn's stop was not announced: the worker had already written back
    assert not [p for p in models.anthropic.prompts() if "stopped: widget done" in p]
    to_worker = sm_json("messages", "--to", "worker")
    assert [m["state"] for m in to_worker] == ["delivered"] * len(to_worker)
