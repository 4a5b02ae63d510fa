"""The Telegram bridge: the real python-telegram-bot inside the real daemon, talking to a
fake Bot API on loopback (``fake_bot_api.py``), with real tmux and scripted agents,
driven through the real ``sm`` CLI.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_bot_api import FakeBotApi

from sm.client import Client

SM_BIN = Path(sys.executable).with_name("sm")
STRANGER = {"id": 666, "is_bot": False, "first_name": "Mallory", "username": "mallory"}
GATE = "while [ ! -e {gate} ]; do sleep 0.02; done"


@pytest.fixture(autouse=True)
def fake() -> Iterator[FakeBotApi]:
    """Autouse, so it is set up before (and stopped after) the daemon's SM_HOME."""
    with FakeBotApi() as server:
        yield server


@pytest.fixture
def sm_env(sm_env: dict[str, str], fake: FakeBotApi) -> dict[str, str]:
    return {
        **sm_env,
        "SM_TELEGRAM_TOKEN": fake.token,
        "SM_TELEGRAM_CHAT_ID": str(fake.chat_id),
        "SM_TELEGRAM_BASE_URL": fake.base_url,
        "SM_TELEGRAM_ALLOWED_USER_IDS": str(fake.user["id"]),
        "SM_TELEGRAM_POLL_TIMEOUT": "1",
        "PTB_TIMEDELTA": "1",
    }


# -- helpers ------------------------------------------------------------------------------

def topic(fake: FakeBotApi, name: str, wait_until: Callable[..., Any]) -> int:
    found: int = wait_until(lambda: next((t.thread_id for t in fake.topics() if t.name == name),
                                         None), timeout=20,
                            message=lambda: f"topic {name}; topics: {fake.topics()}")
    return found


def texts(fake: FakeBotApi, thread: int | None) -> list[str]:
    return fake.topic_texts(thread)


def wait_text(fake: FakeBotApi, thread: int | None, needle: str,
              wait_until: Callable[..., Any], timeout: float = 20.0) -> dict[str, Any]:
    """The first message of the thread whose text contains ``needle``."""
    def found() -> dict[str, Any] | None:
        return next((m for m in fake.messages(thread_id=thread) if needle in m.get("text", "")),
                    None)
    msg: dict[str, Any] = wait_until(found, timeout=timeout,
                                     message=lambda: f"{needle!r} in {texts(fake, thread)}")
    return msg


def count(fake: FakeBotApi, thread: int | None, needle: str) -> int:
    return sum(t.count(needle) for t in texts(fake, thread))


def buttons(msg: dict[str, Any]) -> dict[str, str]:
    rows = msg.get("reply_markup", {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


def send(sm: Callable[..., Any], *args: str, env: dict[str, Any] | None = None) -> dict[str, Any]:
    items = json.loads(sm("send", *args, "--json", env=env).stdout)
    return dict(items[0])


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def kill9(home: Path, sig: int = signal.SIGKILL) -> None:
    """Kill the daemon by the pid it wrote, and wait until it is gone."""
    pid = int((home / "daemon.pid").read_text())
    os.kill(pid, sig)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.01)


def stop(home: Path) -> None:
    kill9(home, signal.SIGTERM)


def settled(fake: FakeBotApi) -> bool:
    """Every injected update was fetched and confirmed by the bot."""
    return not fake.pending_updates


# -- a thread per session, every fact once --------------------------------------------------

def test_a_topic_per_session_mirrors_each_fact_once(sm, spawn, fake, wait_until) -> None:
    a = spawn("--name", "alpha")
    spawn("--name", "beta")
    ta, tb = topic(fake, "alpha", wait_until), topic(fake, "beta", wait_until)
    m = send(sm, "alpha", "hello from the operator")
    wait_text(fake, ta, "ok: [sm", wait_until)
    assert count(fake, ta, f"✉️ operator · {m['id']}\nhello from the operator") == 1
    assert count(fake, ta, f"🤖 alpha\nok: [sm {m['id']} from operator] hello") == 1
    assert count(fake, ta, "alpha spawned") == 1
    assert count(fake, tb, m["id"]) == 0  # only in the target's topic

    sm("name", "alpha", "gamma")
    wait_until(lambda: fake.topic(ta).name == "gamma", message="topic renamed")
    sm("kill", "gamma")
    wait_until(lambda: fake.topic(ta).closed, message="topic closed")
    wait_text(fake, ta, "gamma stopped", wait_until)
    sm("restore", "gamma")
    wait_until(lambda: not fake.topic(ta).closed, message="topic reopened")
    wait_text(fake, ta, "gamma restored", wait_until)
    assert sorted(t.name for t in fake.topics()) == ["beta", "gamma"]  # reused, not recreated
    assert len(fake.calls("createForumTopic")) == 2
    assert fake.topic_texts(None) == []  # nothing in General: no alert was due
    assert a["name"] == "alpha"


def test_topics_are_created_once_across_restarts_and_a_crash_loop(
    sm, sm_json, spawn, fake, sm_home, wait_until
) -> None:
    spawn("--name", "steady")
    steady = topic(fake, "steady", wait_until)
    sent = []
    for i in range(4):
        sm_json("spawn", "scripted", "--name", f"loop{i}")
        if i % 2:
            kill9(sm_home)  # right after the spawn: the topic is being created
        sent.append(send(sm, "steady", f"note {i}"))
        kill9(sm_home)  # right after the send: its mirror is on the wire
    sm("list")  # a daemon again
    names = ["steady"] + [f"loop{i}" for i in range(4)]
    wait_until(lambda: sorted(t.name for t in fake.topics()) == sorted(names), timeout=20,
               message=lambda: f"topics {[t.name for t in fake.topics()]}")
    for m in sent:
        wait_text(fake, steady, m["id"], wait_until)
    stop(sm_home)  # and a clean restart
    sm("list")
    for name in names[1:]:
        wait_text(fake, topic(fake, name, wait_until), f"{name} spawned", wait_until)
    time.sleep(1.0)  # a restarted daemon had its chance to duplicate something
    assert sorted(t.name for t in fake.topics()) == sorted(names)
    assert len(fake.calls("createForumTopic")) == len(names)
    for m in sent:
        assert count(fake, steady, f"✉️ operator · {m['id']}") == 1, texts(fake, steady)
    for name in names[1:]:
        assert count(fake, topic(fake, name, wait_until), f"{name} spawned") == 1


# -- from the phone to the agents ----------------------------------------------------------

def test_a_topic_reply_reaches_the_agent_and_the_receipt_comes_back(
    sm_json, spawn, fake, wait_state, wait_until
) -> None:
    spawn("--name", "alpha")
    ta = topic(fake, "alpha", wait_until)
    human = fake.inject_message("please look at the build", thread_id=ta)
    done = wait_state("alpha", "idle", where=lambda r: "please look" in (r["last_message"] or ""))
    assert "from human] please look at the build" in done["last_message"]
    receipt = wait_text(fake, ta, "✓ delivered to alpha", wait_until)
    assert receipt["reply_to_message"]["message_id"] == human["message_id"]
    msgs = sm_json("messages", "--to", "alpha")
    assert [(m["from"], m["state"]) for m in msgs if m["from"] == "human"] == [
        ("human", "delivered")]
    assert count(fake, ta, "please look at the build") == 2  # the human's, the agent's turn
    assert count(fake, ta, "✉️ human") == 0  # the human's own text is not echoed back


def test_urgent_interrupts_the_running_turn(
    sm, spawn, fake, script_file, wait_state, events, wait_until
) -> None:
    script = script_file({"rules": [{"match": "slow", "actions": [
        {"say": "slow start"}, {"sleep": 400}, {"say": "slow done"}]}]})
    spawn("--name", "alpha", script=script)
    ta = topic(fake, "alpha", wait_until)
    send(sm, "alpha", "slow")
    wait_state("alpha", "running")
    fake.inject_message("/urgent stop and do this", thread_id=ta)
    wait_state("alpha", "idle", where=lambda r: "stop and do this" in (r["last_message"] or ""))
    assert "interrupted" in [e["payload"]["signal"] for e in events("alpha", kinds=("state",))]
    wait_text(fake, ta, "✓ delivered to alpha", wait_until)


def test_commands(sm, sm_json, spawn, fake, wait_state, wait_until) -> None:
    spawn("--name", "alpha")
    ta = topic(fake, "alpha", wait_until)
    fake.inject_message("/list")
    wait_text(fake, None, "alpha", wait_until)
    fake.inject_message("/status", thread_id=ta)
    wait_text(fake, ta, "alpha (", wait_until)
    fake.inject_message("/spawn scripted -n beta hello beta")
    wait_text(fake, None, "spawned beta", wait_until)
    tb = topic(fake, "beta", wait_until)
    wait_text(fake, tb, "ok: [sm", wait_until)
    fake.inject_message("/output", thread_id=tb)
    wait_text(fake, tb, "hello beta", wait_until)
    fake.inject_message("/send alpha via send")
    wait_state("alpha", "idle", where=lambda r: "via send" in (r["last_message"] or ""))
    fake.inject_message("/compact now", thread_id=ta)  # not ours: typed to the agent
    wait_state("alpha", "idle", where=lambda r: "/compact now" in (r["last_message"] or ""))
    fake.inject_message("/clear alpha")
    wait_text(fake, ta, "alpha cleared", wait_until)
    assert count(fake, ta, "/clear") == 0  # the clear itself is not a message to mirror
    fake.inject_message("/kill beta")
    wait_until(lambda: sm_json("status", "beta")["state"] == "stopped")
    fake.inject_message("/kill nobody")
    wait_text(fake, None, "✗ no session 'nobody'", wait_until)
    fake.inject_message("/help")
    wait_text(fake, None, "/urgent TEXT", wait_until)


# -- approvals --------------------------------------------------------------------------

RISKY = {"rules": [{"match": "risky", "actions": [
    {"say": "asking"}, {"permission": "Bash"}, {"say": "went ahead"}]}]}


def test_buttons_answer_a_permission_prompt(
    sm, spawn, fake, script_file, wait_state, wait_until
) -> None:
    spawn("--name", "alpha", script=script_file(RISKY))
    ta = topic(fake, "alpha", wait_until)
    send(sm, "alpha", "risky one")
    ask = wait_text(fake, ta, "asks for permission to use Bash", wait_until)
    wait_text(fake, None, "alpha waits on a permission prompt for Bash", wait_until)
    keys = buttons(ask)
    assert list(keys) == ["Allow once", "Always", "Deny"]
    fake.inject_callback(ask["message_id"], keys["Deny"], user=STRANGER)  # not allowed
    fake.inject_callback(ask["message_id"], keys["Allow once"])
    wait_state("alpha", "idle", where=lambda r: r["last_message"] == "went ahead")
    wait_until(lambda: "allowed once by @human" in fake.message(ask["message_id"])["text"])
    assert "reply_markup" not in fake.message(ask["message_id"])  # buttons gone
    assert len(fake.callback_answers) == 1  # the stranger's press was dropped unanswered

    send(sm, "alpha", "risky two")
    ask2 = wait_until(lambda: next((m for m in fake.messages(thread_id=ta)
                                    if "asks for permission" in m["text"]
                                    and m["message_id"] != ask["message_id"]), None))
    fake.inject_callback(ask2["message_id"], buttons(ask2)["Deny"])
    wait_state("alpha", "idle", where=lambda r: r["last_message"] == "asking")
    wait_until(lambda: "denied by @human" in fake.message(ask2["message_id"])["text"])


def test_an_unanswered_prompt_is_denied_after_the_timeout(
    sm, spawn, fake, script_file, wait_state, wait_until
) -> None:
    spawn("--name", "alpha", script=script_file(RISKY),
          env={"SM_TELEGRAM_PERMISSION_TIMEOUT": "1"})
    ta = topic(fake, "alpha", wait_until)
    send(sm, "alpha", "risky")
    ask = wait_text(fake, ta, "asks for permission", wait_until)
    wait_state("alpha", "idle", where=lambda r: r["last_message"] == "asking")
    wait_until(lambda: "denied: no answer within 1s" in fake.message(ask["message_id"])["text"])


# -- sm ask -------------------------------------------------------------------------------

def test_sm_ask_round_trips(sm, sm_env, spawn, fake, session_env, wait_until) -> None:
    rec = spawn("--name", "alpha")
    ta = topic(fake, "alpha", wait_until)
    env = {**sm_env, **session_env(rec["id"])}

    def ask(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([str(SM_BIN), "ask", *args],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    proc = ask("Deploy to prod?", "--choices", "yes,no", "--timeout", "30")
    question = wait_text(fake, ta, "alpha asks: Deploy to prod?", wait_until)
    fake.inject_callback(question["message_id"], buttons(question)["no"])
    out, err = proc.communicate(timeout=15)
    assert (proc.returncode, out) == (0, "no\n"), err
    wait_until(lambda: "→ no (by @human)" in fake.message(question["message_id"])["text"])

    proc = ask("Which branch?", "--timeout", "30")
    wait_text(fake, ta, "Which branch?", wait_until)
    fake.inject_message("release-2", thread_id=ta)
    out, err = proc.communicate(timeout=15)
    assert (proc.returncode, out) == (0, "release-2\n"), err

    proc = ask("Anyone?", "--timeout", "1", "--default", "carry on")
    out, err = proc.communicate(timeout=15)
    assert (proc.returncode, out) == (1, "carry on\n")
    assert "no answer within 1s" in err


def test_sm_ask_without_telegram_is_answered_from_the_cli(sm, sm_env, sm_json,
                                                         wait_until) -> None:
    asking = subprocess.Popen(
        [str(SM_BIN), "ask", "deploy?", "--choices", "yes,no", "--timeout", "30"],
        stdout=subprocess.PIPE, text=True, env={**sm_env, "SM_TELEGRAM_TOKEN": ""})
    try:
        pending = wait_until(lambda: sm_json("asks"))
        assert pending[0]["question"] == "deploy?" and pending[0]["choices"] == ["yes", "no"]
        sm("answer", pending[0]["id"], "yes")
        out, _ = asking.communicate(timeout=20)
        assert asking.returncode == 0 and out == "yes\n"
        again = sm("answer", pending[0]["id"], "no", check=False)
        assert again.returncode == 1 and "answered already" in again.stderr
        assert sm_json("asks") == []
    finally:
        if asking.poll() is None:
            asking.kill()
            asking.wait()


# -- access ---------------------------------------------------------------------------------

def test_a_strangers_message_is_ignored(sm_json, spawn, fake, sm_home, wait_until) -> None:
    spawn("--name", "alpha")
    ta = topic(fake, "alpha", wait_until)
    fake.inject_message("rm -rf / please", thread_id=ta, user=STRANGER)
    fake.inject_message("/kill alpha", user=STRANGER)
    wait_until(lambda: settled(fake), message="the bot to fetch the updates")
    time.sleep(0.3)
    assert [m for m in sm_json("messages", "--to", "alpha") if m["from"] == "human"] == []
    assert sm_json("status", "alpha")["state"] == "idle"
    log = (sm_home / "logs" / "daemon.log").read_text()
    assert log.count("not allowed") == 2
    assert not [c for c in fake.calls("sendMessage") if "rm -rf" in c.params.get("text", "")]


# -- alerts ---------------------------------------------------------------------------------

def test_alerts_for_a_crash_a_failed_message_and_a_stuck_agent(
    sm, spawn, fake, script_file, sm_home, wait_state, wait_until, pane_exit
) -> None:
    gate = sm_home / "gate"
    script = script_file({"rules": [
        {"match": "crash", "actions": [{"crash": 3}]},
        {"match": "block", "actions": [{"run": GATE.format(gate=gate)}]}]})
    crasher = spawn("--name", "crasher", script=script, env={"SM_HEALTH_STALLED_AFTER": "1"})
    spawn("--name", "blocker", script=script)
    tc = topic(fake, "crasher", wait_until)
    send(sm, "blocker", "block")
    send(sm, "crasher", "crash")
    assert pane_exit(crasher["id"]) == 3
    wait_state("crasher", "error")
    alert = wait_text(fake, None, "crasher crashed — exit status 3", wait_until)
    line = wait_text(fake, tc, "crasher crashed", wait_until)
    calls = {c.response["result"]["message_id"]: c.params for c in fake.calls("sendMessage")
             if c.ok and c.response}
    assert not calls[alert["message_id"]].get("disable_notification")  # the one that rings
    assert calls[line["message_id"]].get("disable_notification") is True
    wait_until(lambda: fake.topic(tc).closed)
    out = sm("send", "crasher", "are you there?", "--json", check=False)
    assert out.returncode == 1  # the target is dead: the message fails at once
    failed = json.loads(out.stdout)[0]
    wait_text(fake, None, f"message {failed['id']} from operator to crasher failed", wait_until)
    wait_text(fake, None, "blocker stalled", wait_until, timeout=15)
    time.sleep(2.5)  # checked again since: still stalled, not alerted again
    assert count(fake, None, "blocker stalled") == 1
    assert count(fake, None, "crasher crashed") == 1
    gate.touch()


def test_a_context_crossing_is_alerted_and_told_in_the_thread(
    sm_json, spawn, fake, script_file, type_prompt, wait_state, wait_until
) -> None:
    big = {"usage": {"model": "claude-sonnet-4-5", "input": 10, "cache_read": 170_000}}
    script = script_file({"rules": [{"match": "one", "actions": [big, {"say": "one"}]},
                                    {"match": "two", "actions": [big, {"say": "two"}]}]})
    rec = spawn("--name", "reader", script=script)
    thread = topic(fake, "reader", wait_until)
    for prompt in ("one", "two"):  # crossed, then still over: one alert
        type_prompt(rec["id"], f"read {prompt}")
        wait_state("reader", "idle", where=lambda r, p=prompt: r["last_message"] == p)
    sm_json("usage", "reader")
    notice = ("context: reader is at 85% of its 200k window (claude-sonnet-4-5): hand off or "
              "clear (sm clear reader)")
    alert = wait_text(fake, None, notice, wait_until)
    line = wait_text(fake, thread, "reader context filling — 85% of 200k (claude-sonnet-4-5)",
                     wait_until)
    calls = {c.response["result"]["message_id"]: c.params for c in fake.calls("sendMessage")
             if c.ok and c.response}
    assert not calls[alert["message_id"]].get("disable_notification")
    assert calls[line["message_id"]].get("disable_notification") is True
    wait_text(fake, thread, "🤖 reader\ntwo", wait_until)  # mirrored after the second read
    assert count(fake, None, "context: reader") == 1
    assert count(fake, thread, "context filling") == 1


def test_a_daily_summary_is_posted_once_a_day_across_restarts(
    sm, sm_json, sm_env, spawn, fake, script_file, type_prompt, wait_state, sm_home,
    wait_until
) -> None:
    work = sm_home / "work"
    work.mkdir()
    script = script_file({"rules": [{"match": "work", "actions": [
        # 1000 + 1000 Sonnet tokens: 3000 + 15000 micro-dollars; a model with no price
        {"usage": {"model": "claude-sonnet-4-5", "input": 1000, "output": 1000}},
        {"usage": {"model": "mystery-model-9", "input": 50, "output": 5}},
        {"say": "worked"}]}]})
    rec = spawn("--name", "spender", "--cwd", str(work), script=script)
    type_prompt(rec["id"], "work")
    wait_state("spender", "idle", where=lambda r: r["last_message"] == "worked")
    sm_json("budget", "set", "spender", "$0.02")  # 90 %: past its warning
    stop(sm_home)
    # the summary is due from the minute it names on: set it to now (not across midnight)
    wait_until(lambda: time.strftime("%H:%M") != "23:59", timeout=65)
    sm_env["SM_TELEGRAM_DAILY_SUMMARY"] = time.strftime("%H:%M")
    sm("list")  # a daemon again, the summary due at its start
    msg = wait_text(fake, None, "📊 Spend since", wait_until)
    text = msg["text"]
    assert "Total: $0.018+? · 2.1k tokens · 2 responses" in text, text
    assert "Sessions:\n• spender — $0.018+? · 2.1k tokens" in text, text
    assert f"Projects:\n• {work.resolve()} — $0.018+?" in text, text
    assert "Budgets:\n• session spender's budget at 90% ($0.018 of $0.02)" in text, text
    assert "No price for mystery-model-9" in text, text
    stop(sm_home)
    sm("list")
    time.sleep(2.5)  # the restarted daemon's timers ran: today's summary was sent
    assert count(fake, None, "📊 Spend since") == 1, texts(fake, None)


def test_a_lock_deadlock_is_alerted(
    sm, sm_env, spawn, fake, session_env, sm_home, wait_until
) -> None:
    work = sm_home / "work"
    work.mkdir()
    subprocess.run(["git", "init", "-q", str(work)], check=True)  # locks live in a repo

    def as_session(sid: str, *args: str) -> subprocess.Popen[str]:
        env = {**sm_env, **{k: v for k, v in session_env(sid).items() if v}}
        return subprocess.Popen([str(SM_BIN), *args], cwd=work, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def done(proc: subprocess.Popen[str]) -> int:
        proc.communicate(timeout=30)
        return proc.returncode

    a, b = (spawn("--name", name, "--cwd", str(work))["id"] for name in ("a", "b"))
    assert done(as_session(a, "lock", "x")) == 0
    assert done(as_session(b, "lock", "y")) == 0
    waiter = as_session(a, "lock", "y", "--wait", "30")
    try:
        wait_until(lambda: json.loads(sm("locks", "--json").stdout)["waiting"])
        assert done(as_session(b, "lock", "x", "--wait", "30")) == 1  # refused: a cycle
        wait_text(fake, None, f"lock deadlock — b: b holds {work}/y and waits for {work}/x",
                  wait_until)
        assert done(as_session(b, "unlock", "y")) == 0
        assert done(waiter) == 0  # no request left waiting in the daemon
    finally:
        if waiter.returncode is None:
            waiter.kill()
            waiter.communicate()


# -- robustness -------------------------------------------------------------------------------

def test_a_429_storm_delays_but_loses_nothing(
    sm, spawn, fake, script_file, sm_home, wait_state, wait_until
) -> None:
    script = script_file({"rules": [{"match": "block", "actions": [
        {"run": GATE.format(gate=sm_home / "gate")}]}]})
    spawn("--name", "alpha", script=script)
    ta = topic(fake, "alpha", wait_until)
    send(sm, "alpha", "block")
    wait_state("alpha", "running")
    fake.rate_limit("sendMessage", retry_after=1, times=3)
    client = Client(home=str(sm_home), token="", session_id="", autostart=False)
    t0 = time.monotonic()
    ids = [client.post("/messages", {"targets": ["alpha"], "body": f"burst {i:03d}"})[
        "items"][0]["id"] for i in range(200)]
    wait_until(lambda: count(fake, ta, ids[-1]) == 1, timeout=60,
               message=lambda: f"the last of the burst; {len(texts(fake, ta))} messages")
    took = time.monotonic() - t0
    shown = "\n".join(texts(fake, ta))
    positions = [shown.index(f"· {i}\nburst {n:03d}") for n, i in enumerate(ids)]
    assert positions == sorted(positions)  # in order
    assert all(shown.count(i) == 1 for i in ids)  # once each
    assert sum(1 for c in fake.calls("sendMessage") if c.status == 429) == 3
    assert took >= 3.0  # it waited out every retry_after
    print(f"\n200 messages mirrored through 3 x 429 in {took:.1f}s, "
          f"{len(fake.calls('sendMessage'))} sendMessage calls")
    (sm_home / "gate").touch()


def test_long_text_is_split_and_rejected_markup_falls_back_to_plain(
    sm, spawn, fake, script_file, wait_state, wait_until
) -> None:
    long = "\n".join(f"line {i:04d} <Vec<String>> & stuff" for i in range(400))
    spawn("--name", "alpha", script=script_file({"rules": [{"match": "long",
                                                            "actions": [{"say": long}]}]}))
    ta = topic(fake, "alpha", wait_until)
    fake.reject_markup(times=1)
    send(sm, "alpha", "long")
    wait_text(fake, ta, "line 0399", wait_until)
    parts = [t for t in texts(fake, ta) if t.startswith("🤖 alpha")]
    assert len(parts) == 4 and all(len(p) <= 4096 for p in parts)
    assert "\n".join(p.split("\n", 1)[1] for p in parts) == long
    plain = [c for c in fake.calls("sendMessage") if c.ok and not c.params.get("parse_mode")]
    assert plain  # the refused one went again as plain text


def test_a_stalled_long_poll_recovers(sm_json, spawn, fake, wait_state, wait_until) -> None:
    spawn("--name", "alpha")
    ta = topic(fake, "alpha", wait_until)
    fake.hang("getUpdates", times=1)
    fake.inject_message("after the stall", thread_id=ta)
    wait_state("alpha", "idle", where=lambda r: "after the stall" in (r["last_message"] or ""),
                timeout=20)
    assert any(c.fault == "hang" for c in fake.calls("getUpdates"))


def _delivery_latency(sm: Callable[..., Any], sm_json: Callable[..., Any], env: dict[str, Any],
                      wait_state: Callable[..., Any], wait_until: Callable[..., Any],
                      n: int) -> list[float]:
    out = []
    for i in range(n):
        m = send(sm, "bob", f"ping {i}", env=env)
        done = wait_until(lambda m=m: (r := sm_json("message", m["id"]))["state"] == "delivered"
                          and r, timeout=20)
        out.append(done["delivered_at"] - done["created_at"])
        wait_state("bob", "idle", where=lambda r, i=i: f"ping {i}" in (r["last_message"] or ""))
    return out


def test_telegram_down_or_slow_never_delays_agent_to_agent_delivery(
    sm, sm_json, spawn, fake, session_env, wait_state, wait_until
) -> None:
    alice = spawn("--name", "alice")
    spawn("--name", "bob")
    topic(fake, "bob", wait_until)
    env = session_env(alice["id"])
    normal = _delivery_latency(sm, sm_json, env, wait_state, wait_until, 5)
    fake.hang("*", times=None)  # every Bot API call now hangs: Telegram is down
    hung = _delivery_latency(sm, sm_json, env, wait_state, wait_until, 5)
    fake.release_hangs()
    fake.clear_faults()
    fake.set_delay(2.0)  # ... or very slow
    slow = _delivery_latency(sm, sm_json, env, wait_state, wait_until, 5)
    fake.set_delay(0)
    med = {k: statistics.median(v) for k, v in
           (("normal", normal), ("hung", hung), ("slow", slow))}
    print(f"\nsend→delivered median: {med['normal'] * 1000:.0f} ms normal, "
          f"{med['hung'] * 1000:.0f} ms Telegram hung, {med['slow'] * 1000:.0f} ms slow")
    assert med["hung"] < med["normal"] * 1.5 + 0.2
    assert med["slow"] < med["normal"] * 1.5 + 0.2


def test_reply_threads_in_a_private_chat(sm_json, spawn, fake, wait_state, wait_until) -> None:
    user = fake.user["id"]
    fake.add_chat(user)
    spawn("--name", "alpha", env={"SM_TELEGRAM_CHAT_ID": str(user)})
    root = wait_until(lambda: next((m for m in fake.messages(user) if "🧵 alpha" in m["text"]),
                                   None))
    line = wait_until(lambda: next((m for m in fake.messages(user)
                                    if "alpha spawned" in m["text"]), None))
    assert line["reply_to_message"]["message_id"] == root["message_id"]
    assert fake.topics() == []
    fake.inject_message("from my phone", chat_id=user, reply_to=line["message_id"])
    wait_state("alpha", "idle", where=lambda r: "from my phone" in (r["last_message"] or ""))
    wait_until(lambda: any("✓ delivered to alpha" in m["text"] for m in fake.messages(user)))


def test_a_question_shows_live_and_is_answered_from_sm_watch_or_the_web(
    sm, sm_env, spawn, fake, session_env, wait_until, sm_home: Path,
) -> None:
    rec = spawn("--name", "asker")
    topic(fake, "asker", wait_until)
    client = Client(home=str(sm_home), token="", session_id="")
    after = client.get("/events", limit=1, newest=1)["items"][-1]["seq"]
    proc = subprocess.Popen([str(SM_BIN), "ask", "Which region?", "--timeout", "30"],
                            env={**sm_env, **session_env(rec["id"])}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        def asked() -> list[dict[str, Any]]:
            return client.get("/events/snapshot")["payload"]["asks"]

        question = wait_until(asked, message="the question in the snapshot")[0]
        assert (question["session_id"], question["question"]) == (rec["id"], "Which region?")
        kinds = [e["kind"] for e in client.get("/events", after=after, kind="ask")["items"]]
        assert kinds == ["ask"]  # the live views hear of it
        out = client.post(f"/asks/{question['id']}/answer", {"answer": "eu-west"})
        assert out["state"] == "answered"
        stdout, stderr = proc.communicate(timeout=15)
        assert (proc.returncode, stdout) == (0, "eu-west\n"), stderr
        assert client.get("/events/snapshot")["payload"]["asks"] == []
        agent = Client(home=str(sm_home), token=session_env(rec["id"])["SM_SESSION_TOKEN"])
        with pytest.raises(Exception, match="for the operator"):
            agent.post(f"/asks/{question['id']}/answer", {"answer": "again"})
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)


def test_a_note_to_the_operators_inbox_rings_once(
    sm, sm_env, sm_json, spawn, fake, session_env, sm_home, wait_until,
) -> None:
    """``sm send operator`` from an agent: the note is an alert in the operator chat, sent
    once — reading it or restarting the daemon does not send it again."""
    rec = spawn("--name", "writer")
    env = {**sm_env, **session_env(rec["id"])}
    note = send(sm, "operator", "need a decision: ship the parser today?", env=env)
    alert = wait_text(fake, None, "need a decision: ship the parser today?", wait_until)
    assert f"writer → you · {note['id']}" in alert["text"]
    calls = {c.response["result"]["message_id"]: c.params for c in fake.calls("sendMessage")
             if c.ok and c.response}
    assert not calls[alert["message_id"]].get("disable_notification")  # it rings
    sm("inbox")  # read at the terminal
    stop(sm_home)
    sm_json("list")  # a new daemon
    send(sm, "writer", "still there?")
    wait_until(lambda: settled(fake) and count(fake, topic(fake, "writer", wait_until),
                                               "still there?") == 1, timeout=20)
    assert count(fake, None, "need a decision: ship the parser today?") == 1
