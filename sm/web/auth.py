"""Who may use the web dashboard, and from where.

- A **login URL** carries a one-time token (``sm web`` asks the daemon for one over the
  0600 Unix socket, so only the operator's uid can get it). Redeeming it sets the
  **session cookie**: ``<expiry>.<nonce>.<hmac>``, signed with ``$SM_HOME/web.key``, so a
  daemon restart keeps browsers logged in; deleting the key logs everyone out.
- A **bearer token** (``sm web --token``) is the same signature for scripts.
- **CSRF**: every state-changing request and every WebSocket carries a token derived
  from the cookie's nonce; a page gets it from ``/api/me``.
- **Host** must be a loopback name or one configured in ``web.hosts`` (DNS rebinding);
  **Origin**, when a browser sends one, must be this very origin.

Pure logic with an injectable clock: tested without a server.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from sm.private import private_secret

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
COOKIE = "sm_web"


def load_key(path: Path) -> bytes:
    """The signing key, created (0600) on first use."""
    return private_secret(path, lambda: secrets.token_bytes(32), lambda b: len(b) >= 32)


class WebAuth:
    def __init__(
        self, key: bytes, *, login_ttl: float = 300.0, cookie_ttl: float = 604800.0,
        hosts: Iterable[str] = (), clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self.login_ttl = login_ttl
        self.cookie_ttl = cookie_ttl
        self.hosts = LOOPBACK_HOSTS | {h.lower() for h in hosts}
        self.clock = clock
        self._logins: dict[str, float] = {}

    # -- login -------------------------------------------------------------------------
    def issue_login(self) -> str:
        """A one-time login token valid for ``login_ttl`` seconds."""
        now = self.clock()
        self._logins = {t: exp for t, exp in self._logins.items() if exp > now}
        token = secrets.token_urlsafe(32)
        self._logins[token] = now + self.login_ttl
        return token

    def redeem(self, token: str) -> str | None:
        """A fresh cookie value for an unused, unexpired login token (which is then
        spent), else None."""
        expires = self._logins.pop(token, None)
        if expires is None or expires < self.clock():
            return None
        return self._sign("c", self.clock() + self.cookie_ttl)

    def bearer(self, ttl: float = 365 * 86400.0) -> str:
        """A long-lived token for ``Authorization: Bearer``."""
        return self._sign("b", self.clock() + ttl)

    # -- checks ------------------------------------------------------------------------
    def check_cookie(self, value: str | None) -> str | None:
        """The nonce of a valid, unexpired cookie, else None."""
        return self._verify("c", value)

    def check_bearer(self, header: str | None) -> str | None:
        if not header or not header.lower().startswith("bearer "):
            return None
        return self._verify("b", header[7:].strip())

    def csrf(self, nonce: str) -> str:
        return hmac.new(self._key, f"csrf|{nonce}".encode(), hashlib.sha256).hexdigest()[:40]

    def check_csrf(self, nonce: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf(nonce), token or "")

    def host_ok(self, host: str | None) -> bool:
        """Whether a Host header names this dashboard (loopback or ``web.hosts``)."""
        return _hostname(host or "") in self.hosts

    @staticmethod
    def origin_ok(origin: str | None, host: str | None, scheme: str) -> bool:
        """Whether ``Origin`` is this very origin (scheme, host and port)."""
        return bool(origin) and bool(host) and origin == f"{scheme}://{host}"

    # -- signing -----------------------------------------------------------------------
    def _sign(self, kind: str, expires: float) -> str:
        nonce = secrets.token_urlsafe(16)
        body = f"{int(expires)}.{nonce}"
        return f"{body}.{self._mac(kind, body)}"

    def _mac(self, kind: str, body: str) -> str:
        return hmac.new(self._key, f"{kind}|{body}".encode(), hashlib.sha256).hexdigest()

    def _verify(self, kind: str, value: str | None) -> str | None:
        if not value or value.count(".") != 2:
            return None
        expires, nonce, mac = value.split(".")
        if not hmac.compare_digest(self._mac(kind, f"{expires}.{nonce}"), mac):
            return None
        try:
            if int(expires) < self.clock():
                return None
        except ValueError:
            return None
        return nonce


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(address: str) -> bool:
    import ipaddress

    if address in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False
