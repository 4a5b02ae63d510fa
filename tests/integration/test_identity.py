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


# -- the kernel's word -----------------------------------------------------------------

_RAW_KILL = (
    "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
    "s.sendall(('POST /sessions/%s/kill HTTP/1.1\\r\\nHost: sm\\r\\nContent-Length: 0\\r\\n"
    "Connection: close\\r\\n\\r\\n' % sys.argv[2]).encode()); "
    "print(s.recv(65536).split(b' ')[1].decode())"
)


def _inside(script_file, spawn, sm_home: Path, name: str, command: str, **kw):
    """A scripted agent that runs ``command`` in its pane (as a tool call would) when
    told "go", and says "ran" after."""
    script = script_file({"rules": [{"match": "go", "actions": [
        {"run": command}, {"say": "ran"}]}]}, name=f"{name}.yaml")
    return spawn("--name", name, "--cwd", str(sm_home), script=script, **kw)


def test_a_child_that_drops_its_token_is_still_itself(
    sm, sm_json, spawn, session_env, script_file, type_prompt, wait_state, sm_home: Path,
) -> None:
    """From inside a child's pane, dropping the identity variables does not make the call
    the operator's: the kernel says which session's pane it comes from."""
    parent = spawn("--name", "parent")
    raw = f"python3 -c {json.dumps(_RAW_KILL)} {sm_home / 'sm.sock'} parent > raw.txt"
    child = _inside(script_file, spawn, sm_home, "child",
                    "env -u SM_SESSION_TOKEN -u SM_SESSION_TOKEN_FILE -u SM_SESSION_ID "
                    "sm kill parent > cli.txt 2>&1; echo $? >> cli.txt; " + raw,
                    env=session_env(parent["id"]))
    assert child["parent_id"] == parent["id"]
    type_prompt(child["id"], "go")
    wait_state("child", "idle", where=lambda r: r["last_message"] == "ran")
    cli = (sm_home / "cli.txt").read_text()
    assert "may not kill parent" in cli and cli.split()[-1] == "1", cli
    assert (sm_home / "raw.txt").read_text().strip() == "403"
    assert sm_json("status", "parent")["state"] == "idle"


def test_a_token_that_disagrees_with_the_kernel_is_refused(
    sm_json, spawn, session_env, script_file, type_prompt, wait_state, sm_home: Path,
) -> None:
    other = spawn("--name", "other")
    stolen = session_env(other["id"])["SM_SESSION_TOKEN"]
    thief = _inside(script_file, spawn, sm_home, "thief",
                    f"env -u SM_SESSION_ID SM_SESSION_TOKEN={stolen} sm me > me.txt 2>&1; "
                    "env -u SM_SESSION_TOKEN -u SM_SESSION_TOKEN_FILE sm me --json > bare.json")
    type_prompt(thief["id"], "go")
    wait_state("thief", "idle", where=lambda r: r["last_message"] == "ran")
    refused = (sm_home / "me.txt").read_text().strip()
    assert refused == (f"sm: this token belongs to session {other['id']}, but the call comes "
                       f"from inside session {thief['id']}")
    assert json.loads((sm_home / "bare.json").read_text())["id"] == thief["id"]


def test_tokens_sit_only_in_each_sessions_own_file(
    sm_json, spawn, tmux, sm_home: Path, session_env,
) -> None:
    """Not in the shared tmux server's environment, not in the agent's process
    environment: a 0600 file only the session's processes are pointed to."""
    rec = spawn("--name", "secret")
    token = session_env(rec["id"])["SM_SESSION_TOKEN"]
    shown = tmux("show-environment", "-t", f"=sm-{rec['id']}").stdout
    shown += tmux("show-environment", "-g").stdout
    assert token not in shown and "SM_SESSION_TOKEN=" not in shown
    pane_pid = int(tmux("display-message", "-p", "-t", f"=sm-{rec['id']}:",
                        "#{pane_pid}").stdout)
    environ = Path(f"/proc/{pane_pid}/environ").read_bytes().split(b"\0")
    assert token.encode() not in b"\0".join(environ)
    assert f"SM_SESSION_TOKEN_FILE={sm_home}/sessions/{rec['id']}/token".encode() in environ
    token_file = sm_home / "sessions" / rec["id"] / "token"
    assert token_file.stat().st_mode & 0o777 == 0o600


def test_agents_get_an_allowlisted_environment(
    sm, spawn, script_file, type_prompt, wait_state, sm_home: Path, stop_daemon,
) -> None:
    """The daemon's secrets stay with it; a variable reaches agents when the user lists it
    in ``agents.env``."""
    (sm_home / "config.yaml").write_text("agents:\n  env: [MY_TOOL_*]\n")
    secrets = {"SM_TELEGRAM_TOKEN": "123:telegram-secret", "OPENAI_API_KEY": "sk-openai-secret",
               "AWS_SECRET_ACCESS_KEY": "aws-secret", "MY_TOOL_HOME": "/opt/tool",
               "LC_ALL": "C.UTF-8"}
    sm("list", env=secrets)  # the daemon starts with these
    agent = _inside(script_file, spawn, sm_home, "envy", "env > env.txt")
    type_prompt(agent["id"], "go")
    wait_state("envy", "idle", where=lambda r: r["last_message"] == "ran")
    seen = dict(line.split("=", 1) for line in (sm_home / "env.txt").read_text().splitlines()
                if "=" in line)
    for leaked in ("SM_TELEGRAM_TOKEN", "OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY"):
        assert leaked not in seen, leaked
    assert "secret" not in (sm_home / "env.txt").read_text()
    assert seen["MY_TOOL_HOME"] == "/opt/tool" and seen["LC_ALL"] == "C.UTF-8"
    assert seen["SM_HOME"] == str(sm_home) and seen["SM_SESSION_ID"] == agent["id"]
    assert "HOME" in seen and "PATH" in seen
