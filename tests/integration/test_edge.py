"""Input hygiene at the HTTP edge, over the real socket: what a confused or hostile caller
sends is refused with a 4xx naming the field — never a 500, never a spinning daemon,
never a session left half-made — and the daemon goes on serving."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from sm.client import Client


class Raw:
    """Requests with exact bytes, as the operator or with a session's token."""

    def __init__(self, home: Path, token: str = "") -> None:
        self.client = Client(home=str(home), token=token, session_id="", timeout=30)

    def __call__(self, method: str, path: str, body: Any = None, *, data: bytes | None = None
                 ) -> tuple[int, dict[str, Any]]:
        if data is None and body is not None:
            data = json.dumps(body).encode()
        status, raw = self.client.send(method, path, data)
        return status, (json.loads(raw) if raw else {})


@pytest.fixture
def raw(sm, sm_home: Path) -> Raw:
    sm("list")  # the daemon runs
    return Raw(sm_home)


@pytest.fixture
def as_session(spawn, session_env, sm_home: Path) -> Raw:
    rec = spawn("--name", "caller", "--cwd", str(sm_home))
    return Raw(sm_home, str(session_env(rec["id"])["SM_SESSION_TOKEN"]))


def refused(answer: tuple[int, dict[str, Any]], *words: str, status: int = 400) -> str:
    code, body = answer
    assert code == status, answer
    message = body["error"]["message"]
    assert all(w in message for w in words), message
    return message


def test_nul_surrogates_and_big_integers_are_refused_naming_the_field(
    raw: Raw, as_session: Raw, sm_json,
) -> None:
    refused(raw("POST", "/locks/check", data=b'{"paths": ["a\\u0000b"], "cwd": "/"}'),
            "body.paths[0]", "NUL")
    refused(raw("GET", "/others?cwd=%00"), "query cwd", "NUL")
    refused(raw("POST", "/repos", data=b'{"spec": "x\\u0000"}'), "body.spec", "NUL")
    refused(raw("POST", "/messages", data=b'{"targets": ["caller"], "body": "x\\ud800y"}'),
            "body.body", "surrogate")
    refused(raw("POST", "/messages", data=b'{"targets": ["\\udfff"], "body": "x"}'),
            "body.targets[0]", "surrogate")
    refused(raw("POST", "/sessions", data=b'{"provider": "scripted", "cwd": "/\\ud800"}'),
            "body.cwd", "surrogate")
    refused(as_session("POST", "/locks", data=b'{"paths": ["\\ud800"], "cwd": "/"}'),
            "body.paths[0]")
    refused(raw("GET", "/events?after=99999999999999999999999"), "query after", "64-bit")
    refused(raw("GET", "/events/stream?after=99999999999999999999999"), "query after")
    refused(raw("GET", "/messages?limit=-99999999999999999999"), "query limit")
    refused(raw("POST", "/messages", data=b'{"targets": ["caller"], "body": "x", "ttl": NaN}'),
            "body.ttl", "finite")
    refused(raw("POST", "/messages", data=b'{"targets": ["caller"], "body": "x", "ttl": 1e999}'),
            "body.ttl", "finite")
    refused(raw("GET", "/asks/x?wait=nan"), "query wait", "finite")
    refused(raw("POST", "/sessions", body={"provider": "scripted", "options": {"n": 2**70}}),
            "body.options.n", "64-bit")
    assert sm_json("messages") == []  # nothing was accepted


def test_long_references_and_deep_json_are_refused(raw: Raw, as_session: Raw) -> None:
    long = "a" * 100_000
    for method, path in (("GET", f"/sessions/{long}"), ("POST", f"/sessions/{long}/kill"),
                         ("GET", f"/messages/{long}"), ("POST", f"/reminders/{long}/cancel"),
                         ("GET", f"/events?session={long}")):
        status, _ = raw(method, path)
        assert status in (400, 404, 414), (path[:40], status)
    refused(raw("POST", "/messages", body={"targets": [long], "body": "x"}), "200")
    deep = b"[" * 100_000 + b"]" * 100_000
    refused(raw("POST", "/hooks/Stop", data=deep), "nested deeper than 64")
    refused(as_session("POST", "/hooks/Stop", data=b'{"payload":' + b"[" * 70 + b"]" * 70 + b"}"),
            "body.payload", "nested deeper than 64")
    # a hook's payload is the agent's own data: NUL and surrogates in it are kept
    status, _ = as_session("POST", "/hooks/PostToolUse",
                           data=b'{"id": "h1", "payload": {"tool_response": "\\u0000\\ud800"}}')
    assert status == 200


def test_a_body_over_the_cap_is_refused_before_it_is_read(
    raw: Raw, sm_home: Path, daemon_pid,
) -> None:
    """A 300 MB Content-Length is answered at once (413) without waiting for, or
    holding, the body; a chunked body is cut off as it passes the cap."""
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(10)
    sock.connect(str(sm_home / "sm.sock"))
    sock.sendall(b"POST /messages HTTP/1.1\r\nHost: sm\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 300000000\r\n\r\n" + b"x" * 1000)
    answer = b""
    while chunk := sock.recv(65536):  # the daemon closes the connection after its answer
        answer += chunk
    sock.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"too_large"' in answer and b"300000000 bytes" in answer

    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(10)
    sock.connect(str(sm_home / "sm.sock"))
    sock.sendall(b"POST /messages HTTP/1.1\r\nHost: sm\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * 65536
    answer = b""
    try:
        for _ in range(64):  # 4 MiB, past the default 1.25 MiB cap
            sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
    except OSError:
        pass  # the daemon answered and closed
    answer = sock.recv(65536)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    rss = int(next(line.split()[1] for line in
                   Path(f"/proc/{daemon_pid()}/status").read_text().splitlines()
                   if line.startswith("VmRSS")))
    assert rss < 400_000, f"daemon RSS {rss} kB"
    assert raw("GET", "/health")[0] == 200


def test_a_configured_request_cap(sm, sm_home: Path) -> None:
    (sm_home / "config.yaml").write_text("limits:\n  max_request_bytes: 1000\n")
    sm("list")
    ok = Raw(sm_home)("POST", "/messages", data=b'{"targets": [], "body": "' + b"x" * 900
                      + b'"}')
    assert ok[0] == 400  # read and checked: no target
    refused(Raw(sm_home)("POST", "/messages", data=b"{" + b" " * 2000 + b"}"), "2002 bytes",
            "limit is 1000", status=413)


def test_bad_spawn_options_leave_no_session(raw: Raw, sm_json) -> None:
    refused(raw("POST", "/sessions", body={"provider": "shell", "options": {"command": 5}}),
            "options.command must be a list")
    refused(raw("POST", "/sessions", body={"provider": "shell",
                                           "options": {"command": "sleep 600"}}),
            "must be a list", "'sleep 600'")
    refused(raw("POST", "/sessions", body={"provider": "scripted", "cwd": "~nosuchuser/x"}),
            "working directory ~nosuchuser/x does not exist")
    assert sm_json("list") == []


def test_a_nan_lock_ttl_is_refused_and_the_daemon_stays_idle(
    as_session: Raw, sm_home: Path, daemon_pid, wait_until,
) -> None:
    work = sm_home / "work"
    work.mkdir()
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    refused(as_session("POST", "/locks", data=b'{"paths": ["f"], "cwd": "%s", "ttl": NaN}'
                       % str(work).encode()), "body.ttl", "finite")
    for ttl in (-1, 0, 10**9):
        refused(as_session("POST", "/locks", body={"paths": ["f"], "cwd": str(work),
                                                   "ttl": ttl}), "ttl")

    def cpu() -> float:
        fields = Path(f"/proc/{daemon_pid()}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / 100

    before, start = cpu(), time.monotonic()
    wait_until(lambda: time.monotonic() - start > 1.0)
    assert cpu() - before < 0.5, "the daemon spins"


def test_locks_only_inside_a_repository_or_a_configured_root(
    sm, sm_home: Path, spawn, session_env,
) -> None:
    free = sm_home / "free"
    free.mkdir()
    (sm_home / "config.yaml").write_text(f"locks:\n  roots: [{free}]\n")
    rec = spawn("--name", "locker", "--cwd", str(sm_home))
    env = session_env(rec["id"])
    for path in ("/", "/etc/shadow", str(sm_home / "elsewhere.txt")):
        out = sm("lock", path, env=env, check=False)
        assert out.returncode == 1, (path, out.stderr)
        assert f"cannot lock {path}: it is outside every git repository" in out.stderr
    assert sm("lock", str(free / "notes.txt"), env=env).returncode == 0
    assert [i["path"] for i in json.loads(sm("locks", "--json").stdout)["items"]] == [
        str(free / "notes.txt")]


def test_git_refs_never_read_as_options(raw: Raw, sm_home: Path, sm_json) -> None:
    repo = sm_home / "repo"
    repo.mkdir()
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "i"],
                 ["branch", "keep"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env)
    for worktree, words in (({"branch": "-D"}, ("invalid branch name '-D'",)),
                            ({"branch": "--delete=keep"}, ("invalid branch name",)),
                            ({"branch": "a..b"}, ("invalid branch name 'a..b'",)),
                            ({"base": "--all"}, ("invalid git revision '--all'",))):
        refused(raw("POST", "/sessions", body={"provider": "scripted", "cwd": str(repo),
                                               "worktree": worktree}), *words)
    branches = subprocess.run(["git", "-C", str(repo), "branch", "--format=%(refname:short)"],
                              capture_output=True, text=True, check=True).stdout.split()
    assert sorted(branches) == ["keep", "main"]
    assert sm_json("list") == []
