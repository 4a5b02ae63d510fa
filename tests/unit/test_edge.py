"""The HTTP edge's checks, the spool's line format and the agents' environment allowlist:
pure functions, no daemon."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from sm.agents import env
from sm.daemon import spool
from sm.daemon.edge import MAX_DEPTH, check_json, check_target
from sm.errors import InvalidInput


@pytest.mark.parametrize(("body", "words"), [
    (b'{"a": NaN}', ("body.a", "finite")),
    (b'{"a": [1, -Infinity]}', ("body.a[1]", "finite")),
    (b'{"a": 1e400}', ("body.a", "finite")),
    (b'{"a": "x\\u0000"}', ("body.a", "NUL")),
    (b'{"x\\u0000": 1}', ("key", "NUL")),
    (b'{"a": {"b": "\\ud83d"}}', ("body.a.b", "surrogate")),
    (b'{"n": 9223372036854775808}', ("body.n", "64-bit")),
    (b'{"n": -9223372036854775809}', ("body.n", "64-bit")),
    (b'{"n": ' + b"9" * 5000 + b"}", ("not valid JSON",)),
    (b"\xff{}", ("not valid JSON",)),
    (b"[" * 100_000 + b"]" * 100_000, (f"deeper than {MAX_DEPTH}",)),
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), (f"deeper than {MAX_DEPTH}",)),
])
def test_bad_json_is_refused_naming_the_field(body: bytes, words: tuple[str, ...]) -> None:
    with pytest.raises(InvalidInput) as err:
        check_json(body)
    assert all(w in err.value.message for w in words), err.value.message


def test_good_json_and_a_hooks_own_data_pass() -> None:
    assert check_json(b'{"n": 9223372036854775807, "s": "\\u00e9\\ud83d\\ude00", "b": true}')
    check_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    # a hook's payload keeps NUL, lone surrogates and big integers as the agent sent them
    assert check_json(b'{"p": "\\u0000\\ud800", "n": 99999999999999999999}', strict=False)
    with pytest.raises(InvalidInput):
        check_json(b'{"p": NaN}', strict=False)


@pytest.mark.parametrize(("path", "query", "words"), [
    ("/x\x00", b"", ("path", "NUL")),
    ("/events", b"after=99999999999999999999999", ("query after", "64-bit")),
    ("/events", b"after=-" + b"9" * 30, ("query after",)),
    ("/events", b"after=" + b"9" * 10_000, ("query after",)),
    ("/asks/a", b"wait=nan", ("query wait", "finite")),
    ("/asks/a", b"wait=-Infinity", ("query wait", "finite")),
    ("/others", b"cwd=%00", ("query cwd", "NUL")),
])
def test_bad_targets_are_refused(path: str, query: bytes, words: tuple[str, ...]) -> None:
    with pytest.raises(InvalidInput) as err:
        check_target(path, query)
    assert all(w in err.value.message for w in words), err.value.message


def test_good_targets_pass() -> None:
    check_target("/events", b"after=9223372036854775807&limit=10&session=abc")
    check_target("/asks/a", b"wait=1.5")


def _signed(token: str, body: bytes) -> bytes:
    return body + b',"mac":"' + hmac.new(token.encode(), body, hashlib.sha256
                                         ).hexdigest().encode() + b'"}'


def test_a_spool_line_is_verified_by_its_sessions_token() -> None:
    body = b'{"id":"h1","event":"Stop","ts":1.0,"session":"abc123","payload":{"x":1}'
    record, signed, mac = spool.parse(_signed("tok", body))
    assert record["payload"] == {"x": 1} and spool.session_of(record) == "abc123"
    assert signed == body and spool.verify(signed, mac, "tok")
    assert not spool.verify(signed, mac, "another")
    tampered = _signed("tok", body).replace(b'"x":1', b'"x":2')
    _, signed, mac = spool.parse(tampered)
    assert signed is not None and not spool.verify(signed, mac, "tok")


@pytest.mark.parametrize(("line", "why"), [
    (b"\xff\xfe", "not UTF-8"), (b'{"event": "Stop", "pay', "not JSON"),
    (b"[1]", "not a hook record"), (b'{"id": 1}', "not a hook record"),
])
def test_bad_spool_lines_say_why(line: bytes, why: str) -> None:
    with pytest.raises(spool.BadLine, match=why):
        spool.parse(line)


def test_a_session_id_from_the_spool_names_no_path() -> None:
    for sid in ("../x", "", "a/b", "x" * 65, None):
        with pytest.raises(spool.BadLine):
            spool.session_of({"session": sid})


def test_agents_get_only_what_is_allowed() -> None:
    daemon = {"HOME": "/h", "PATH": "/bin", "LC_ALL": "C", "SM_TELEGRAM_TOKEN": "t",
              "ANTHROPIC_API_KEY": "a", "OPENAI_API_KEY": "o", "AWS_SECRET_ACCESS_KEY": "s",
              "MY_TOOL": "m", "SSH_AUTH_SOCK": "/s"}
    assert env.allowed(daemon, env.BASE) == {"HOME": "/h", "PATH": "/bin", "LC_ALL": "C"}
    assert env.allowed(daemon, env.BASE, ("ANTHROPIC_*",), ("MY_TOOL", "SSH_AUTH_SOCK")) == {
        "HOME": "/h", "PATH": "/bin", "LC_ALL": "C", "ANTHROPIC_API_KEY": "a",
        "MY_TOOL": "m", "SSH_AUTH_SOCK": "/s"}
