"""A schema-driven fuzzer against the real daemon over its Unix socket: schemathesis
generates requests from ``/openapi.json`` — valid ones and ones that break the schema —
and every one is sent as the operator and as a session. Not one may answer a 5xx.

Derandomized (the same cases every run) and bounded: about 2,000 generated cases, each
sent twice. Calls that block by design are bounded: a wait is at most 0.1 s, the event
stream is read up to its status line. git may use only local repositories (no clone of
a generated URL ever leaves the machine).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

EXAMPLES = 30  # per operation and generation mode
MIN_CASES = 2000
BLOCKING = ("wait", "timeout")  # fields that hold a request open: bounded


def _send(home: Path, token: str, kw: dict[str, Any]) -> int:
    """Send one generated request; its HTTP status."""
    url = urlsplit(kw["url"])
    query = urlencode(kw.get("params") or {}, doseq=True)
    target = url.path + (f"?{query}" if query else "")
    if "json" in kw:
        body = json.dumps(kw["json"]).encode()
    else:
        data = kw.get("data")
        body = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    head = [f"{kw['method']} {target} HTTP/1.1", "Host: sm", "Connection: close"]
    if body is not None:
        head += [f"Content-Length: {len(body)}", "Content-Type: application/json"]
    if token:
        head.append(f"Authorization: Bearer {token}")
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(30)
    sock.connect(str(home / "sm.sock"))
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + (body or b""))
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    finally:
        sock.close()
    return int(answer.split(b" ", 2)[1])


def _bounded(kw: dict[str, Any]) -> dict[str, Any]:
    params = dict(kw.get("params") or {})
    for key in BLOCKING:
        if key in params:
            params[key] = 0.1
    body = kw.get("json")
    if isinstance(body, dict):
        body = {k: (0.1 if k in BLOCKING and isinstance(v, int | float) else v)
                for k, v in body.items()}
        kw = {**kw, "json": body}
    return {**kw, "params": params}


@pytest.mark.timeout(900)
def test_no_request_answers_a_server_error(
    sm, sm_json, sm_home: Path, session_env,
) -> None:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    sm("list", env={"GIT_ALLOW_PROTOCOL": "file"})  # the daemon starts with it
    rec = sm_json("spawn", "shell", "--name", "fuzzer", "--", "sleep", "600")
    token = str(session_env(rec["id"])["SM_SESSION_TOKEN"])
    spec = json.loads(_openapi(sm_home))
    schema = schemathesis.openapi.from_dict(spec)
    errors: list[str] = []
    cases = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck), phases=[Phase.generate])
            @given(case=operation.as_strategy(mode))
            def run(case: Any) -> None:
                nonlocal cases
                cases += 1
                kw = _bounded(case.as_transport_kwargs(base_url="http://sm"))
                for who, credential in (("operator", ""), ("session", token)):
                    try:
                        status = _send(sm_home, credential, kw)
                    except TimeoutError:
                        status = 599  # no answer within 30 s: a hang is a failure too
                    if status >= 500:
                        errors.append(f"{status} as {who}: {kw['method']} {kw['url'][:200]} "
                                      f"{str(kw.get('json', kw.get('data')))[:200]}")

            try:
                run()
            except Unsatisfiable:  # nothing breaks this operation's schema (no inputs)
                continue
    print(f"fuzz: {cases} generated cases, {2 * cases} requests, {len(errors)} server errors")
    assert not errors, f"{len(errors)} server errors:\n" + "\n".join(errors[:20])
    assert cases >= MIN_CASES, f"only {cases} cases generated"
    assert sm_json("status", rec["id"])["id"] == rec["id"]  # the daemon still serves (the
    # fuzzer may have renamed the session: the operator may)


def _openapi(home: Path) -> str:
    from sm.client import Client

    status, raw = Client(home=str(home), token="", session_id="").send(
        "GET", "/openapi.json", None)
    assert status == 200
    return raw.decode()
