"""Budgets through the real daemon: a scripted agent reports usage in its transcript; the
turn that crosses its session's budget is interrupted, messages to it wait with the
budget as their reason, and raising the budget delivers them."""

from __future__ import annotations

import json
from pathlib import Path

from sm.agents.scripted_transcript import received

SONNET = "claude-sonnet-4-5"  # $3 in, $15 out per million tokens
# 1000 input + 1000 output tokens of Sonnet: 3000 + 15000 micro-dollars
SPEND = {"usage": {"model": SONNET, "input": 1000, "output": 1000}}


def prompts(sm_home: Path, session_id: str) -> list[str]:
    out = []
    for path in sorted((sm_home / "sessions" / session_id / "transcripts").glob("*.jsonl"),
                       key=lambda p: p.stat().st_mtime):
        out += received(str(path))
    return out


def test_a_budget_reached_interrupts_the_turn_and_holds_messages_until_raised(
    sm, sm_json, spawn, script_file, type_prompt, wait_state, events, wait_until,
    session_env, sm_home: Path,
):
    parent = spawn("--name", "boss")
    script = script_file({"rules": [
        {"match": "warm", "actions": [SPEND, {"say": "warmed"}]},
        # the response is in the transcript before the tool runs: the tool's end reads it
        {"match": "work", "actions": [SPEND, {"run": "true"}, {"sleep": 1200},
                                      {"say": "finished"}]},
    ]})
    child = spawn("--name", "spender", script=script, env=session_env(parent["id"]))
    assert child["parent_id"] == parent["id"]

    set_ = sm_json("budget", "set", "spender", "$0.02")
    assert (set_["scope"], set_["key"], set_["limit_micros"]) == ("session", child["id"], 20000)
    assert set_["spent_micros"] == 0 and set_["level"] == ""

    # 18000 of 20000: a warning to the parent, once
    type_prompt(child["id"], "warm up")
    wait_state("spender", "idle", where=lambda r: r["last_message"] == "warmed")
    warned = wait_until(lambda: [e for e in events("spender", kinds=("budget",))
                                 if e["payload"]["level"] == "warn"] or None, timeout=10)
    assert warned[0]["payload"]["spent_micros"] == 18000
    assert warned[0]["payload"]["percent"] == 90.0
    wait_until(lambda: any("budget: session spender's budget is at 90%" in p
                           for p in prompts(sm_home, parent["id"])), timeout=20)

    # 36000 of 20000, read at the tool call's end while the turn still runs: interrupted
    type_prompt(child["id"], "work hard")
    reached = wait_until(lambda: [e for e in events("spender", kinds=("budget",))
                                  if e["payload"]["level"] == "exceeded"] or None, timeout=10)
    assert reached[0]["payload"]["stop"] is True
    assert reached[0]["payload"]["spent_micros"] == 36000
    done = wait_state("spender", "idle", timeout=15)
    assert done["last_message"] != "finished"
    ends = [e["payload"] for e in events("spender", kinds=("state",))
            if e["payload"].get("turn_ended")]
    assert (ends[-1]["signal"], ends[-1]["detail"]) == ("interrupted", "budget")
    wait_until(lambda: any("spender's budget is reached ($0.036 of $0.02)" in p
                           for p in prompts(sm_home, parent["id"])), timeout=20)

    # held: a message waits, its reason names the budget
    queued = json.loads(sm("send", "spender", "carry on", "--json").stdout)[0]
    held = wait_until(lambda: (m := sm_json("message", queued["id"]))["reason"] and m,
                      timeout=10)
    assert held["state"] == "queued"
    assert "paused: budget" in held["reason"] and "$0.036 of $0.02" in held["reason"]
    listed = {b["key"]: b for b in sm_json("budget", "list")["items"]}
    assert listed[child["id"]]["level"] == "exceeded"
    assert listed[child["id"]]["label"] == "spender"
    assert "REACHED" in sm("budget", "list").stdout

    # raised past what was spent: delivered
    raised = sm_json("budget", "set", "spender", "1000000")
    assert raised["level"] == "" and raised["spent_micros"] == 36000
    wait_until(lambda: sm_json("message", queued["id"])["state"] == "delivered", timeout=20)
    assert prompts(sm_home, child["id"])[-1].endswith("carry on")
    change = events("spender", kinds=("budget",))[-1]["payload"]
    assert (change["change"], change["before"], change["level"]) == ("set", "exceeded", "")


def test_budget_rules_and_refusals(sm, sm_json, spawn, session_env, sm_home: Path):
    parent = spawn("--name", "p")
    child = spawn("--name", "c", env=session_env(parent["id"]))
    as_child = session_env(child["id"])
    as_parent = session_env(parent["id"])
    # a session may not raise its own budget; its parent may set it
    bad = sm("budget", "set", "c", "$5", env=as_child, check=False)
    assert bad.returncode != 0 and "only the operator or its ancestors" in bad.stderr
    assert sm_json("budget", "set", "c", "$5", env=as_parent)["limit_micros"] == 5_000_000
    day = sm("budget", "set", "--day", "$5", env=as_parent, check=False)
    assert day.returncode != 0 and "operator" in day.stderr
    for amount, why in (("1.5", "expected dollars"), ("$0", "more than zero"),
                        ("$1.0000001", "expected dollars")):
        got = sm("budget", "set", "--day", amount, check=False)
        assert got.returncode == 2 and why in got.stderr, got.stderr
    assert sm_json("budget", "set", "--day", "$1.5")["limit_micros"] == 1_500_000
    project = sm_json("budget", "set", "--project", str(sm_home), "2500")
    assert (project["scope"], project["key"]) == ("project", str(sm_home.resolve()))
    scopes = sorted((b["scope"], b["key"]) for b in sm_json("budget", "list")["items"])
    assert scopes == sorted([("day", ""), ("project", str(sm_home.resolve())),
                             ("session", child["id"])])
    assert sm_json("budget", "rm", "--day") == {"removed": True, "default": None}
    missing = sm("budget", "rm", "--day", check=False)
    assert missing.returncode != 0 and "no day budget is set" in missing.stderr
    assert sm("budget", "rm", "c").returncode == 0
    usage = sm("budget", "set", "c", check=False)
    assert usage.returncode == 2 and "SESSION AMOUNT" in usage.stderr
    assert [b["scope"] for b in sm_json("budget", "list")["items"]] == ["project"]


def test_a_budget_notice_to_a_shell_parent_is_never_typed_into_it(
    sm_json, spawn, script_file, type_prompt, wait_state, wait_until, session_env, tmux,
):
    """A shell session takes no sm notices: the warning to a shell parent is recorded,
    never typed at its prompt (where it would run as a command)."""
    shell = spawn("--name", "term", "--", "sh", "-c", "exec cat", provider="shell", idle=False)
    script = script_file({"rules": [{"match": "warm", "actions": [SPEND, {"say": "warmed"}]}]})
    child = spawn("--name", "kid", script=script, env=session_env(shell["id"]))
    assert child["parent_id"] == shell["id"]
    sm_json("budget", "set", "kid", "$0.02")
    type_prompt(child["id"], "warm up")
    told = wait_until(lambda: [m for m in sm_json("messages", "--to", "term")
                               if "budget:" in m["body"]] or None, timeout=20)
    assert told[0]["state"] == "cancelled" and "takes no sm notices" in told[0]["reason"]
    screen = tmux("capture-pane", "-p", "-t", f"=sm-{shell['id']}:").stdout
    assert "budget" not in screen
