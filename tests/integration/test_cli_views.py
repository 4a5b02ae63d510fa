"""What the human commands print: tables that fit 80 columns without wrapping, long
names and states that keep the columns aligned, names (not ids) wherever a session is
named, and the lists that used to mislead (newest messages, live sessions)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from test_worktrees import make_repo

NARROW = {"COLUMNS": "80"}
LONG = "a-rather-long-agent-name-32chars"  # the longest name sm accepts
assert len(LONG) == 32


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def assert_fits(text: str, cols: int = 80) -> None:
    wide = [line for line in text.splitlines() if len(line) > cols]
    assert not wide, "\n".join(wide)


def assert_aligned(text: str, header: str) -> None:
    """Every row has the column ``header`` starts at, starting at the same offset."""
    rows = lines_of(text)
    at = rows[0].index(header)
    for row in rows[1:]:
        if len(row) > at:  # shorter: this row's cells from here on are empty
            assert row[at - 2: at] == "  ", (header, row)


def test_views_fit_80_columns_with_long_names_and_states(
    sm, spawn, script_file, type_prompt, wait_state, session_env, sm_home: Path
) -> None:
    script = script_file({"rules": [{"match": "risky", "actions": [{"permission": "Bash"}]}]})
    boss = spawn("--name", LONG, script=script)
    as_boss = session_env(boss["id"])
    child = json.loads(sm("spawn", "scripted", "--name", f"{LONG[:28]}-kid", "--json",
                          env=as_boss).stdout)
    wait_state(child["id"], "idle")
    type_prompt(boss["id"], "something risky")
    wait_state(LONG, "waiting_permission")
    sm("status", "writing a very long status line that goes on and on past the edge",
       env=session_env(child["id"]))
    sm("remind", "10m", "check the build and then check it once more, carefully " * 3,
       env=as_boss)
    sm("send", child["id"], "a body long enough to be cut at eighty columns " * 4)
    sm("kill", child["id"])
    assert sm("send", child["id"], "too late", check=False).returncode == 1  # failed, reason
    repo = make_repo(sm_home / "proj")
    sm("spawn", "shell", "--name", f"{LONG[:26]}-tree", "--worktree", "--cwd", str(repo),
       "--", "sleep", "600")

    listing = sm("list", env=NARROW).stdout
    assert_fits(listing)
    for header in ("ID", "PROVIDER", "STATE", "AGE", "PARENT"):
        assert_aligned(listing, header)
    assert "waiting_permission" in listing
    kid_row = next(r for r in lines_of(listing) if child["id"] in r)
    assert LONG[:4] in kid_row.split(child["id"])[1] and boss["id"] not in kid_row  # PARENT

    messages = sm("messages", env=NARROW).stdout
    assert_fits(messages)
    for header in ("FROM", "TO", "STATE", "BODY", "REASON"):
        assert_aligned(messages, header)
    assert child["id"] not in messages  # the target is named, not an id
    failed = next(r for r in lines_of(messages) if " failed " in r)
    assert "too late" in failed and "session a-rat" in failed
    assert "a body long" in messages

    reminders = sm("reminders", env=NARROW).stdout
    assert_fits(reminders)
    assert "FOR" in lines_of(reminders)[0] and LONG[:8] in lines_of(reminders)[1]

    shown = sm("show", child["id"], env=NARROW).stdout
    assert_fits(shown)
    for field in ("role:", "status:", "created:", "parent:"):
        assert field in shown
    assert "writing a very long status line" in shown
    assert re.search(r"created: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(\d+s ago\)", shown)
    assert f"parent: {LONG}" in shown

    tree = sm("show", f"{LONG[:26]}-tree", env=NARROW).stdout
    assert_fits(tree)
    assert re.search(r"worktree: .*\(branch sm/", tree.replace("\n", " "))

    worktrees = sm("worktree", "list", env=NARROW).stdout
    assert_fits(worktrees)
    for header in ("STATE", "BRANCH", "PATH"):
        assert_aligned(worktrees, header)

    status = sm("status", env=NARROW).stdout
    assert_fits(status)
    assert_aligned(status, "STATE")


def test_list_live_with_only_ended_sessions_says_so(sm, spawn) -> None:
    spawn("--name", "gone")
    sm("kill", "gone")
    out = sm("list", "--live").stdout.strip()
    assert out == "no live sessions (1 ended: stopped, exited or error) — sm list shows them"
    assert "gone" in sm("ls").stdout  # the alias


def test_messages_n_gives_the_newest(sm, sm_json, spawn) -> None:
    spawn("--name", "w")
    ids = [json.loads(sm("send", "w", f"message {i}", "--json").stdout)[0]["id"]
           for i in range(5)]
    assert [m["id"] for m in sm_json("messages", "-n", "2")] == ids[-2:]
    text = sm("messages", "-n", "2").stdout
    assert "message 4" in text and "message 3" in text and "message 2" not in text


def test_messages_with_a_bogus_state_is_an_error(sm) -> None:
    out = sm("messages", "--state", "delivered,bogus", check=False)
    assert out.returncode == 2
    assert out.stderr == ("sm: no message state 'bogus'; expected one of: queued, delivering, "
                          "delivered, failed, expired, cancelled\n")


def test_message_cancel(sm, sm_json, spawn, script_file, type_prompt, wait_state) -> None:
    script = script_file({"rules": [{"match": "slow", "actions": [{"sleep": 200}]}]})
    rec = spawn("--name", "busy", script=script)
    type_prompt(rec["id"], "slow")
    wait_state("busy", "running")
    queued = json.loads(sm("send", "busy", "later", "--json").stdout)[0]
    out = sm("message", "cancel", queued["id"])
    assert out.stdout.strip() == f"message {queued['id']} cancelled"
    assert sm_json("message", queued["id"])["state"] == "cancelled"
    shown = sm("message", queued["id"]).stdout
    assert shown.startswith(f"{queued['id']} from operator to busy (sequential): cancelled")


def test_kill_several_a_tree_and_all(sm, sm_json, spawn, session_env, wait_state) -> None:
    a, b, c = (spawn("--name", n) for n in ("a", "b", "c"))
    kid = json.loads(sm("spawn", "scripted", "--name", "kid", "--json",
                        env=session_env(a["id"])).stdout)
    grandkid = json.loads(sm("spawn", "scripted", "--name", "grandkid", "--json",
                             env=session_env(kid["id"])).stdout)
    wait_state("grandkid", "idle")
    out = sm("kill", "--tree", "a").stdout.splitlines()
    assert out == ["grandkid stopped (1/3)", "kid stopped (2/3)", "a stopped (3/3)"]
    assert sm("kill", "b", "c").stdout.splitlines() == ["b stopped (1/2)", "c stopped (2/2)"]
    spawn("--name", "d")
    assert sm("kill", "--all").stdout.strip() == "d stopped"
    assert {s["state"] for s in sm_json("list")} == {"stopped"}
    assert sm("kill", "--all").stdout.strip() == "no live sessions to kill"
    bad = sm("kill", check=False)
    assert bad.returncode == 2 and bad.stderr == "sm: name the sessions to kill, or --all\n"
    assert grandkid and b and c


def test_logs_is_output(sm, spawn) -> None:
    spawn("--name", "w", "hello there")
    assert sm("logs", "w").stdout == sm("output", "w").stdout

