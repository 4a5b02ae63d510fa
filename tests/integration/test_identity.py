"""Identity is proven by the session's token, never claimed: who a call comes from, who
may manage whom, and who becomes whose parent."""

from __future__ import annotations

import json
from pathlib import Path


def test_me_inside_a_session_is_that_session(sm, sm_json, spawn, session_env) -> None:
    rec = spawn("--name", "self")
    env = session_env(rec["id"])
    assert env["SM_SESSION_ID"] == rec["id"]
    me = sm_json("me", env=env)
    assert (me["id"], me["name"], me["state"]) == (rec["id"], "self", "idle")
    assert "operator" not in me
    assert sm("me", env=env).stdout.splitlines()[0] == f"self ({rec['id']}) scripted idle"
    assert sm_json("status", env=env)["id"] == rec["id"]  # status without SESSION: mine


def test_token_with_another_sessions_id_is_refused(sm, spawn, session_env) -> None:
    a = spawn("--name", "a")
    b = spawn("--name", "b")
    forged = {**session_env(a["id"]), "SM_SESSION_ID": b["id"]}
    out = sm("me", env=forged, check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == f"sm: this token belongs to session {a['id']}, not {b['id']}"
    out = sm("kill", "b", env=forged, check=False)
    assert out.returncode == 1
    assert sm("status", "b").stdout.splitlines()[0].endswith(" idle")


def test_unknown_or_missing_token_is_refused(sm, spawn) -> None:
    rec = spawn()
    made_up = {"SM_SESSION_ID": rec["id"], "SM_SESSION_TOKEN": "not-a-real-token"}
    out = sm("me", env=made_up, check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == "sm: unknown session token"
    out = sm("spawn", "scripted", env=made_up, check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == "sm: unknown session token"
    assert len(json.loads(sm("list", "--json").stdout)) == 1
    # claiming a session without its token
    out = sm("me", env={"SM_SESSION_ID": rec["id"]}, check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == f"sm: a call claiming session {rec['id']} needs its token"


def test_sm_called_from_inside_the_agent(
    spawn, script_file, type_prompt, wait_state, sm_home: Path, sm_json
) -> None:
    """The agent's own shell (a scripted Bash tool call) carries its identity: `sm me`
    names it and a session it spawns becomes its child."""
    script = script_file({"rules": [{"match": "who", "actions": [
        {"run": "sm me --json > me.json && sm spawn scripted --name kid --json > kid.json"},
        {"say": "asked"},
    ]}]})
    parent = spawn("--name", "mother", "--cwd", str(sm_home), script=script)
    type_prompt(parent["id"], "who am I")
    wait_state("mother", "idle", where=lambda r: r["last_message"] == "asked")
    me = json.loads((sm_home / "me.json").read_text())
    assert me["id"] == parent["id"]
    kid = json.loads((sm_home / "kid.json").read_text())
    assert kid["parent_id"] == parent["id"]
    assert sm_json("status", "kid")["parent_id"] == parent["id"]


def test_who_may_manage_whom(sm, sm_json, spawn, session_env) -> None:
    a = spawn("--name", "elder")
    a_env = session_env(a["id"])
    child = spawn("--name", "child", env=a_env)
    assert child["parent_id"] == a["id"]
    grandchild = spawn("--name", "grandchild", env=session_env(child["id"]))
    assert grandchild["parent_id"] == child["id"]
    stranger = spawn("--name", "stranger")
    assert stranger["parent_id"] is None
    s_env = session_env(stranger["id"])
    c_env = session_env(child["id"])

    # not an ancestor: refused, and nothing changes
    for env, target in ((c_env, "elder"), (s_env, "child"), (s_env, "grandchild")):
        out = sm("kill", target, env=env, check=False)
        assert out.returncode == 1, (target, out.stderr)
        assert "may not" in out.stderr and "its ancestors" in out.stderr
        out = sm("name", target, "renamed", env=env, check=False)
        assert out.returncode == 1
    assert {s["name"]: s["state"] for s in sm_json("list")} == {
        "elder": "idle", "child": "idle", "grandchild": "idle", "stranger": "idle"}

    # an ancestor may: the grandparent kills the grandchild, the parent renames its child
    assert sm_json("kill", "grandchild", env=a_env)["state"] == "stopped"
    assert sm_json("name", "child", "kid", env=a_env)["name"] == "kid"
    # a session may manage itself, and the operator manages everything
    assert sm_json("name", "stranger", "loner", env=s_env)["name"] == "loner"
    assert sm_json("kill", "elder")["state"] == "stopped"

    # children of one session are listed by parent
    kids = sm_json("list")
    assert [s["id"] for s in kids if s["parent_id"] == a["id"]] == [child["id"]]
