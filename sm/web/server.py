"""The dashboard's TCP listener, inside the daemon's process and event loop.

Off until asked (``sm web``) or ``web.enabled``. Loopback only unless ``web.host`` is
another address *and* ``web.tls_cert``, ``web.tls_key`` and ``web.allow_remote`` are
all set: then it serves HTTPS only. The daemon's own uvicorn server handles signals;
this one never installs handlers and stops with the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sm.config import WebSettings
from sm.daemon.assets import Assets
from sm.errors import InvalidInput, Refused, Unavailable
from sm.web.auth import WebAuth, is_loopback, load_key

if TYPE_CHECKING:
    from sm.daemon.services import Services

log = logging.getLogger("sm.web")


def check_listen(settings: WebSettings) -> bool:
    """Whether the listener serves TLS. Raises Refused for a non-loopback host without
    TLS files and ``allow_remote``, InvalidInput for a half TLS setting."""
    tls = bool(settings.tls_cert or settings.tls_key)
    if tls and not (settings.tls_cert and settings.tls_key):
        raise InvalidInput("web.tls_cert and web.tls_key go together: set both or neither")
    if not is_loopback(settings.host) and not (tls and settings.allow_remote):
        raise Refused(
            f"web.host {settings.host} is not a loopback address: the dashboard listens "
            "there only with web.tls_cert, web.tls_key and web.allow_remote: true "
            "(see docs/web.md)")
    for path in (settings.tls_cert, settings.tls_key):
        if path and not Path(path).expanduser().is_file():
            raise InvalidInput(f"TLS file {path} does not exist")
    return tls


class WebServer:
    def __init__(
        self, svc: Services, settings: WebSettings, key_path: Path,
        openapi: Callable[[], dict[str, Any]],
    ) -> None:
        self.svc = svc
        self.settings = settings
        self.tls = check_listen(settings)
        self.auth = WebAuth(load_key(key_path), login_ttl=settings.login_ttl,
                            cookie_ttl=settings.cookie_ttl,
                            hosts=(*settings.hosts, settings.host))
        self.assets = Assets(Path(settings.assets).expanduser() if settings.assets else None)
        self.openapi = openapi
        self.port = 0
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = self.settings.host
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def login_url(self) -> str:
        """A one-time login URL (valid ``web.login_ttl`` seconds)."""
        return f"{self.url}/login?token={self.auth.issue_login()}"

    async def start(self) -> None:
        """Bind and serve. Raises Unavailable when the port cannot be bound."""
        import uvicorn

        from sm.web.app import create_web_app

        missing = self.assets.missing()
        if missing:
            log.warning("web assets missing (%s): run ./setup.sh", ", ".join(missing))
        sock = _bind(self.settings.host, self.settings.port)
        self.port = sock.getsockname()[1]
        app = create_web_app(self.svc, self.auth, self.assets, self.openapi, secure=self.tls)
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off", loop="asyncio",
            http="h11", ws="wsproto", timeout_graceful_shutdown=1,
            ssl_certfile=self.settings.tls_cert or None, ssl_keyfile=self.settings.tls_key or None,
        )
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        for _ in range(500):
            if self._server.started or self._task.done():
                break
            await asyncio.sleep(0.01)
        if not self._server.started:
            raise Unavailable(f"the web dashboard did not start on {self.url}")
        log.info("web dashboard on %s", self.url)

    async def close(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 3.0)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise Unavailable(f"the web dashboard cannot listen on {host}:{port}: "
                          f"{exc.strerror or exc} (set web.port)") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _quiet_server_class() -> type:
    import uvicorn

    class QuietServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # the daemon's own server owns SIGTERM/SIGINT

    return QuietServer


def _QuietServer(config: Any) -> Any:  # noqa: N802 - a class made on first use
    return _quiet_server_class()(config)
