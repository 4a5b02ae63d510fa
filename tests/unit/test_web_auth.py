"""The dashboard's security rules, without a server."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sm.config import WebSettings
from sm.errors import InvalidInput, Refused
from sm.web.auth import WebAuth, load_key
from sm.web.server import check_listen


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _auth(clock: Clock, **kw: object) -> WebAuth:
    return WebAuth(b"k" * 32, login_ttl=60, cookie_ttl=3600, clock=clock, **kw)  # type: ignore[arg-type]


def test_a_login_token_works_once_and_expires() -> None:
    clock = Clock()
    auth = _auth(clock)
    token = auth.issue_login()
    cookie = auth.redeem(token)
    assert cookie is not None and auth.check_cookie(cookie)
    assert auth.redeem(token) is None  # spent
    late = auth.issue_login()
    clock.now += 61
    assert auth.redeem(late) is None
    assert auth.redeem("made-up") is None


def test_cookies_expire_and_cannot_be_forged_or_reused_as_bearer_tokens() -> None:
    clock = Clock()
    auth = _auth(clock)
    cookie = auth.redeem(auth.issue_login())
    assert cookie is not None
    expires, nonce, mac = cookie.split(".")
    assert auth.check_cookie(f"{int(expires) + 9999}.{nonce}.{mac}") is None
    assert auth.check_cookie(f"{expires}.other.{mac}") is None
    assert auth.check_bearer(f"Bearer {cookie}") is None  # a cookie is no bearer token
    assert WebAuth(b"x" * 32, clock=clock).check_cookie(cookie) is None  # another key
    clock.now += 3601
    assert auth.check_cookie(cookie) is None
    bearer = auth.bearer()
    assert auth.check_bearer(f"Bearer {bearer}") and auth.check_cookie(bearer) is None


def test_csrf_tokens_belong_to_one_cookie() -> None:
    auth = _auth(Clock())
    assert auth.check_csrf("a", auth.csrf("a"))
    assert not auth.check_csrf("b", auth.csrf("a"))
    assert not auth.check_csrf("a", None) and not auth.check_csrf("a", "")


@pytest.mark.parametrize(("host", "ok"), [
    ("127.0.0.1:8765", True), ("localhost:1", True), ("[::1]:8765", True), ("localhost", True),
    ("evil.example:8765", False), ("127.0.0.1.evil.example", False), (None, False),
    ("dash.lan:443", True),
])
def test_host_must_be_loopback_or_configured(host: str | None, ok: bool) -> None:
    assert _auth(Clock(), hosts=("dash.lan",)).host_ok(host) is ok


def test_origin_must_be_this_origin() -> None:
    assert WebAuth.origin_ok("http://127.0.0.1:8765", "127.0.0.1:8765", "http")
    assert not WebAuth.origin_ok("http://evil.example", "127.0.0.1:8765", "http")
    assert not WebAuth.origin_ok("https://127.0.0.1:8765", "127.0.0.1:8765", "http")
    assert not WebAuth.origin_ok(None, "127.0.0.1:8765", "http")


def test_a_non_loopback_listener_needs_tls_and_an_explicit_yes(tmp_path: Path) -> None:
    base = WebSettings()
    assert check_listen(base) is False
    remote = dataclasses.replace(base, host="0.0.0.0")
    with pytest.raises(Refused, match="not a loopback address"):
        check_listen(remote)
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    with_tls = dataclasses.replace(remote, tls_cert=str(cert), tls_key=str(key))
    with pytest.raises(Refused):
        check_listen(with_tls)  # TLS alone is not enough
    assert check_listen(dataclasses.replace(with_tls, allow_remote=True)) is True
    with pytest.raises(InvalidInput, match="go together"):
        check_listen(dataclasses.replace(base, tls_cert=str(cert)))


def test_the_key_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "web.key"
    key = load_key(path)
    assert load_key(path) == key and len(key) == 32
    assert path.stat().st_mode & 0o777 == 0o600
