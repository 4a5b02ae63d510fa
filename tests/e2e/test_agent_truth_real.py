"""What sm shows is what the agent does, on the real Claude Code and Codex CLIs: a human's
Escape, an urgent message before the turn's first output, a prompt taken mid-turn, and a
Codex dispatch with its clear confirmed from the screen. (A late Stop of a cleared
conversation: ``test_claude.py::test_clear_leaves_nothing_of_the_old_task``.)

Each timing is printed as ``[timing]``; the assertions leave room for a loaded machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from model_servers import Sleep, Text, Turn

pytestmark = [pytest.mark.e2e]

Json = Callable[..., Any]


def _claude_prompts(models: Any, text: str) -> list[str]:
    return [p for p in models.anthropic.prompts() if text in p]


def _transitions(events: Json, ref: str) -> list[tuple[str, str]]:
    return [(e["payload"]["to"], e["payload"]["signal"]) for e in events(ref, kinds=("state",))]


@pytest.mark.usefixtures("claude_bin")
def test_a_human_escape_ends_the_turn_and_the_queue_moves_on(
        spawn_agent, send, wait_state, message_state, models, screen, tmux, wait_until,
        sm_json, events):
    models.anthropic.add(
        Turn("the long one", [Text("working on it"), Sleep(30), Text("never")]),
        Turn("then this", [Text("this is done")]),
    )
    agent = spawn_agent("claude", "h")
    send("h", "the long one")
    wait_until(lambda: "working on it" in screen("h"), timeout=20)
    queued = send("h", "then this")
    assert sm_json("message", queued["id"])["state"] == "queued"
    tmux("send-keys", "-t", f"={agent['tmux_session']}:", "Escape")  # Claude fires no hook
    t0 = time.monotonic()
    message_state(queued["id"], "delivering", "delivered", timeout=10)
    moved = time.monotonic() - t0
    wait_state("h", "idle", timeout=20, where=lambda r: r["last_message"] == "this is done")
    assert ("idle", "interrupted") in _transitions(events, "h")
    assert len(_claude_prompts(models, "then this")) == 1
    print(f"[timing] claude escape → queue moves {moved * 1000:.0f} ms")
    assert moved < 3.0


@pytest.mark.usefixtures("claude_bin")
def test_an_urgent_message_before_the_first_output_is_delivered_once(
        spawn_agent, send, wait_state, message_state, models, sm_json):
    models.anthropic.add(
        # the model is slow to say anything: an interrupt then puts the prompt back
        Turn("slow start", [Sleep(8), Text("too late")]),
        Turn("right now", [Text("urgent handled")]),
        Turn("slow start", [Text("slow start handled")]),
    )
    spawn_agent("claude", "u")
    first = send("u", "slow start")
    models.anthropic.wait_for(lambda r: "slow start" in r.prompt, timeout=20)
    urgent = send("u", "right now", "--urgent")
    message_state(urgent["id"], "delivered", timeout=30)
    # the put-back prompt went back to the queue and was typed again after the urgent one
    message_state(first["id"], "delivered", timeout=30)
    wait_state("u", "idle", timeout=30,
               where=lambda r: r["last_message"] == "slow start handled")
    assert len(_claude_prompts(models, "right now")) == 1
    states = [e["payload"]["state"] for e in sm_json("events", "u", "-n", "300")
              if e["kind"] == "message" and e["payload"]["id"] == first["id"]]
    assert states.count("queued") == 2, states  # taken back once, never counted twice
    assert states[-1] == "delivered"


@pytest.mark.usefixtures("claude_bin")
def test_an_important_prompt_taken_mid_stream_runs_as_its_own_turn(
        spawn_agent, sm_json, send, wait_state, message_state, models, session_env,
        wait_until, screen):
    models.anthropic.add(
        Turn("task one", [Text("one started"), Sleep(4), Text("one done")]),
        Turn("mid thought", [Text("mid started"), Sleep(2), Text("mid done")]),
        Turn("after both", [Text("after done")]),
    )
    spawn_agent("scripted", "boss")
    boss = session_env(sm_json("status", "boss")["id"])
    rec = sm_json("spawn", "claude", "--name", "w", "--cwd",
                  sm_json("status", "boss")["cwd"], env=boss)
    wait_state(rec["id"], "idle", timeout=30)
    send("w", "task one", env=boss)  # parent → child: notify-on-stop
    wait_until(lambda: "one started" in screen("w"), timeout=20)
    send("w", "mid thought", "--important", env=boss)
    # Claude answers the mid-turn prompt as a second turn with no UserPromptSubmit of its
    # own: sm shows `running` through it, and a sequential message waits for its end
    wait_until(lambda: sm_json("status", "w")["last_message"] == "one done", timeout=20)
    later = send("w", "after both")
    assert sm_json("status", "w")["state"] == "running"
    assert sm_json("message", later["id"])["state"] == "queued"
    wait_state("w", "idle", timeout=30, where=lambda r: r["last_message"] == "after done")
    first_after = next(i for i, p in enumerate(models.anthropic.prompts()) if "after both" in p)
    first_mid = next(i for i, p in enumerate(models.anthropic.prompts()) if "mid thought" in p)
    assert first_mid < first_after
    time.sleep(1.0)
    notices = [m["body"] for m in sm_json("messages", "--to", "boss") if m["from"] == "sm"]
    assert notices == ["w stopped: one done", "w stopped: mid done"]


@pytest.mark.usefixtures("codex_bin")
def test_a_codex_dispatch_clears_and_the_task_arrives_at_once(
        spawn_agent, sm, sm_json, wait_state, models, send, events):
    models.openai.add(Turn("warm up", [Text("warm")]),
                      Turn("build the widget", [Text("widget built")]))
    spawn_agent("codex", "cx")
    send("cx", "warm up")
    wait_state("cx", "idle", timeout=30, where=lambda r: r["last_message"] == "warm")
    old = sm_json("status", "cx")["conversation_id"]
    t0 = time.monotonic()
    sm("dispatch", "cx", "--role", "engineer", "--task", "build the widget")
    models.openai.wait_for(lambda r: "build the widget" in r.prompt, timeout=20)
    arrived = time.monotonic() - t0
    done = wait_state("cx", "idle", timeout=30,
                      where=lambda r: r["last_message"] == "widget built")
    assert done["conversation_id"] != old  # the clear was confirmed: a new thread
    request = next(r for r in models.openai.conversation_requests()
                   if "build the widget" in r.prompt)
    assert "warm up" not in str(request.body)
    print(f"[timing] codex dispatch → task at the model {arrived * 1000:.0f} ms")
    assert arrived < 6.0
