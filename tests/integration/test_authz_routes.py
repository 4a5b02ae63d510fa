"""Authorization, route by route: every route of ``/openapi.json`` called as an unrelated
session and as the target's own child, expecting what docs/protocol.md's "who" column
says — a refusal (403) where only the operator, the target or its ancestors may, anything
but a refusal where anyone (or any session) may — and nothing changed by a refusal."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sm.client import Client

ROOT = Path(__file__).resolve().parents[2]
LATER = 4102444800.0  # 2100: the jobs added here never start

# who → refused for a stranger and for the target's child?
ALLOWED = ("anyone", "a session", "the session")
REFUSED = ("manager", "reader", "operator", "its sender", "the holder", "manager of")

# route → (path parameters filled in, body); {T}: the target, {M}: a message to it,
# {R}: a reminder of it, {A}: a question, {W}: its repo directory, {P}: a repo's name,
# {J}: a job it added, {K}: a knowledge-base entry it wrote
CALLS: dict[str, tuple[str, Any]] = {
    "GET /health": ("/health", None),
    "GET /me": ("/me", None),
    "POST /sessions": ("/sessions", {"provider": "shell", "options": {"command": ["sleep", "60"]}}),
    "GET /sessions": ("/sessions", None),
    "GET /sessions/{ref}": ("/sessions/{T}", None),
    "POST /sessions/{ref}/kill": ("/sessions/{T}/kill", None),
    "POST /sessions/{ref}/name": ("/sessions/{T}/name", {"name": "hijacked"}),
    "POST /sessions/{ref}/restore": ("/sessions/{T}/restore", None),
    "POST /sessions/forget": ("/sessions/forget", {"refs": ["{T}"]}),
    "POST /sessions/prune": ("/sessions/prune", {}),
    "POST /sessions/{ref}/answer": ("/sessions/{T}/answer", {"decision": "allow"}),
    "GET /sessions/{ref}/output": ("/sessions/{T}/output", None),
    "GET /sessions/{ref}/tail": ("/sessions/{T}/tail", None),
    "POST /hooks/{event}": ("/hooks/Notification", {"id": "n1", "payload": {}}),
    "POST /messages": ("/messages", {"targets": ["{T}"], "body": "hello"}),
    "GET /messages": ("/messages", None),
    "GET /messages/{message_id}": ("/messages/{M}", None),
    "POST /messages/{message_id}/cancel": ("/messages/{M}/cancel", None),
    "GET /events": ("/events", None),
    "GET /events/stream": ("/events/stream", None),
    "GET /events/snapshot": ("/events/snapshot", None),
    "POST /web/login": ("/web/login", None),
    "POST /web/token": ("/web/token", None),
    "GET /web": ("/web", None),
    "POST /locks": ("/locks", {"paths": ["mine.txt"], "cwd": "{W}"}),
    "POST /locks/release": ("/locks/release", {"paths": ["held.txt"], "cwd": "{W}",
                                               "force": True}),
    "GET /locks": ("/locks", None),
    "GET /sessions/{ref}/locks": ("/sessions/{T}/locks", None),
    "POST /locks/check": ("/locks/check", {"paths": ["held.txt"], "cwd": "{W}"}),
    "GET /worktrees": ("/worktrees", None),
    "POST /worktrees/gc": ("/worktrees/gc", {}),
    "GET /worktrees/conflicts": ("/worktrees/conflicts", None),
    "GET /sessions/{ref}/worktree": ("/sessions/{T}/worktree", None),
    "GET /sessions/{ref}/pr": ("/sessions/{T}/pr", None),
    "POST /sessions/{ref}/pr": ("/sessions/{T}/pr", {}),
    "GET /repos": ("/repos", None),
    "POST /repos": ("/repos", {"spec": "{W}", "name": "again"}),
    "POST /repos/{name}/remove": ("/repos/{P}/remove", None),
    "POST /sessions/{ref}/wait": ("/sessions/{T}/wait", {"timeout": 0}),
    "POST /me/status": ("/me/status", {"text": "busy"}),
    "POST /me/task-complete": ("/me/task-complete", {"text": "done"}),
    "POST /me/turn-complete": ("/me/turn-complete", None),
    "POST /me/handoff": ("/me/handoff", {"text": "go on"}),
    "POST /me/em": ("/me/em", {}),
    "POST /sessions/{ref}/clear": ("/sessions/{T}/clear", {"prompt": "forget"}),
    "POST /dispatch": ("/dispatch", {"agent": "{T}", "role": "engineer", "params": {}}),
    "GET /sessions/{ref}/children": ("/sessions/{T}/children", None),
    "GET /others": ("/others", None),
    "POST /reminders": ("/reminders", {"delay": "1h", "text": "later"}),
    "GET /reminders": ("/reminders", None),
    "POST /reminders/{ref}/cancel": ("/reminders/{R}/cancel", None),
    "POST /asks": ("/asks", {"id": "b0b0b0b{who}", "question": "may I?"}),
    "GET /asks/{ask_id}": ("/asks/{A}", None),
    "GET /asks": ("/asks", None),
    "POST /asks/{ask_id}/answer": ("/asks/{A}/answer", {"answer": "no"}),
    "GET /usage": ("/usage?session={T}&by=model", None),
    "GET /usage/sessions": ("/usage/sessions", None),
    "GET /budgets": ("/budgets", None),
    "POST /budgets": ("/budgets", {"scope": "session", "target": "{T}", "amount": "$9"}),
    "POST /budgets/remove": ("/budgets/remove", {"scope": "session", "target": "{T}"}),
    "POST /inbox": ("/inbox", {"body": "for the human"}),
    "GET /inbox": ("/inbox", None),
    "POST /inbox/ack": ("/inbox/ack", {"all": True}),
    "POST /jobs": ("/jobs", {"jobs": [{"task": "a job {who}", "provider": "scripted",
                                       "run_at": LATER}]}),
    "GET /jobs": ("/jobs", None),
    "GET /jobs/{ref}": ("/jobs/{J}", None),
    "POST /jobs/cancel": ("/jobs/cancel", {"refs": ["{J}"]}),
    "POST /jobs/{ref}/retry": ("/jobs/{J}/retry", None),
    "POST /jobs/{ref}/requeue": ("/jobs/{J}/requeue", None),
    "POST /jobs/done": ("/jobs/done", {"result": "finished"}),
    "POST /jobs/wait": ("/jobs/wait", {"refs": ["{J}"], "timeout": 0}),
    "GET /job-templates": ("/job-templates", None),
    "PUT /job-templates/{name}": ("/job-templates/t{who}", {"guidelines": "be brief"}),
    "DELETE /job-templates/{name}": ("/job-templates/t{who}", None),
    "GET /projects": ("/projects", None),
    "PUT /projects/{name}": ("/projects/default", {"max_concurrent": 1}),
    "POST /kb": ("/kb", {"title": "a finding {who}", "content": "something learned"}),
    "POST /kb/learn": ("/kb/learn", {"learnings": [{"title": "lesson {who}",
                                                    "content": "learned the hard way"}]}),
    "GET /kb": ("/kb", None),
    "GET /kb/search": ("/kb/search?q=finding", None),
    "GET /kb/memory": ("/kb/memory?project=default&text=finding", None),
    "GET /kb/{entry_id}": ("/kb/{K}", None),
    "PATCH /kb/{entry_id}": ("/kb/{K}", {"title": "hijacked"}),
    "DELETE /kb/{entry_id}": ("/kb/{K}", None),
    "GET /notes": ("/notes", None),
    "GET /notes/{key}": ("/notes/t/x", None),
    "PUT /notes/{key}": ("/notes/s/{who}", {"value": "mine"}),
    "DELETE /notes/{key}": ("/notes/s/{who}", None),
    "POST /notes/watch": ("/notes/watch", {"keys": ["t/x"], "timeout": 0}),
}


def documented_who() -> dict[str, str]:
    """Route → its "who" cell in docs/protocol.md."""
    rows = re.findall(r"^\| `([A-Z]+ /[^`]*)` \| .* \| ([^|]+) \|$",
                      (ROOT / "docs" / "protocol.md").read_text(), re.M)
    return {route: who.strip() for route, who in rows}


def expected_refusal(who: str) -> bool:
    head = who.split(";")[0].strip()
    if head.startswith(ALLOWED):
        return False
    assert head.startswith(REFUSED), f"unknown who: {who!r}"
    return True


def test_every_route_is_called_and_documented() -> None:
    from sm.config import load
    from sm.daemon.app import create_app

    app = create_app(load(environ={"SM_HOME": str(ROOT / ".no-such-home")}))
    routes = {f"{m.upper()} {p}" for p, ops in app.openapi()["paths"].items() for m in ops}
    assert routes == set(CALLS), (routes - set(CALLS), set(CALLS) - routes)
    assert set(documented_who()) >= routes


def _status(home: Path, token: str, method: str, path: str, body: Any) -> int:
    if path.startswith("/events/stream"):  # a stream: read its status line only
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(10)
        sock.connect(str(home / "sm.sock"))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: sm\r\nAuthorization: Bearer {token}"
                     "\r\n\r\n".encode())
        head = sock.recv(4096)
        sock.close()
        return int(head.split()[1])
    client = Client(home=str(home), token=token, session_id="", timeout=60)
    status, _ = client.send(method, path, None if body is None else json.dumps(body).encode())
    return status


@pytest.fixture
def world(sm, sm_json, spawn, session_env, sm_home: Path) -> dict[str, Any]:
    """The target (in a git repo, holding a lock, with a reminder, a question and a
    message to it), its child, a stranger, and a registered repo."""
    work = sm_home / "work"
    work.mkdir()
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    target = spawn("--name", "target", "--cwd", str(work))
    t_env = session_env(target["id"])
    child = spawn("--name", "kid", "--cwd", str(work), env=t_env)
    stranger = spawn("--name", "stranger", "--cwd", str(work))
    assert child["parent_id"] == target["id"] and stranger["parent_id"] is None
    t_token = str(t_env["SM_SESSION_TOKEN"])
    t = Client(home=str(sm_home), token=t_token, session_id="")
    t.post("/locks", {"paths": ["held.txt"], "cwd": str(work)})
    reminder = t.post("/reminders", {"delay": "1h", "text": "check"})
    t.post("/asks", {"id": "a0a0a0a0", "question": "go?"})
    job = t.post("/jobs", {"jobs": [{"task": "the target's job", "provider": "scripted",
                                     "run_at": LATER}]})["items"][0]
    entry = t.post("/kb", {"title": "the target's entry", "content": "what it found"})["entry"]
    t.request("PUT", "/notes/t/x", {"value": "the target's note"})
    sm("repo", "add", str(work), "--name", "reg")
    sm("send", "target", "--urgent", "x")  # a message the others neither sent nor receive
    message = sm_json("messages", "--to", "target")[-1]
    return {
        "home": sm_home, "T": "target", "M": message["id"], "R": reminder["id"],
        "A": "a0a0a0a0", "W": str(work), "P": "reg", "J": job["id"], "K": str(entry["id"]),
        "tokens": {"stranger": str(session_env(stranger["id"])["SM_SESSION_TOKEN"]),
                   "child": str(session_env(child["id"])["SM_SESSION_TOKEN"])},
    }


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, sub in names.items():
            value = value.replace("{" + key + "}", sub)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return value


def test_every_route_as_a_stranger_and_as_a_child(world: dict[str, Any], sm_json) -> None:
    who = documented_who()
    before = (sm_json("status", "target"), sm_json("locks"), sm_json("repo", "list"))
    wrong = []
    for caller in ("stranger", "child"):
        names = {k: world[k] for k in ("T", "M", "R", "A", "W", "P", "J", "K")} | {
            "who": "1" if caller == "child" else "2"}
        for route, (path, body) in CALLS.items():
            method = route.split()[0]
            status = _status(world["home"], world["tokens"][caller], method,
                             _fill(path, names), _fill(body, names))
            refuse = expected_refusal(who[route])
            if status >= 500 or (status == 403) != refuse:
                wrong.append(f"{caller} {route}: {status} (who: {who[route]})")
    assert not wrong, "\n".join(wrong)
    after = (sm_json("status", "target"), sm_json("locks"), sm_json("repo", "list"))
    # the messages anyone may send it keep it busy; nobody stopped or renamed it
    assert after[0]["name"] == "target" and after[0]["state"] in ("idle", "running")
    assert ("target", world["W"] + "/held.txt") in {
        (i["holder"], i["path"]) for i in after[1]["items"]}
    assert after[2] == before[2]
    assert sm_json("message", world["M"])["state"] == "delivered"
    assert [r["id"] for r in sm_json("reminders") if r["id"] == world["R"]]
    assert sm_json("job", "show", world["J"])["job"]["state"] == "queued"
    assert sm_json("kb", "show", world["K"])["title"] == "the target's entry"
    assert [p["max_concurrent"] for p in sm_json("job", "projects") if p["name"] == "default"
            ] in ([], [0])
