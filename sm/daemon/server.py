"""Running the daemon: one per SM_HOME (an exclusive lock), on a 0600 Unix socket."""

from __future__ import annotations

import asyncio
import json
import logging
import logging.handlers
import os
import socket
import sys
from pathlib import Path
from types import FrameType

from sm.client import check_socket_path
from sm.config import Settings
from sm.errors import Conflict, Unavailable


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data)


def _setup_logging(settings: Settings) -> None:
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        settings.log_dir / "daemon.log", maxBytes=10 << 20, backupCount=3
    )
    handler.setFormatter(_JsonFormatter())
    stderr = logging.StreamHandler()
    stderr.setLevel(logging.ERROR)
    stderr.addFilter(logging.Filter("sm"))
    stderr.setFormatter(logging.Formatter("sm daemon: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler, stderr]
    root.setLevel(settings.log_level.upper())


def _take_lock(home: Path) -> int:
    """Hold ``daemon.lock`` for the daemon's life; the kernel drops it on any death,
    so a crashed daemon never blocks the next one."""
    import fcntl

    fd = os.open(home / "daemon.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        pid = (home / "daemon.pid").read_text().strip() if (home / "daemon.pid").exists() else "?"
        raise Conflict(f"an sm daemon already runs for {home} (pid {pid})") from None
    return fd


def _bind(path: Path) -> socket.socket:
    if path.exists() or path.is_symlink():
        path.unlink()  # stale: we hold the lock, so nobody serves it
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(512)
    sock.setblocking(False)
    return sock


def _refuse_pydantic_v1() -> None:
    """FastAPI imports ``pydantic.v1`` only to refuse v1 models in routes (26 modules,
    ~1.6 MiB kept for the daemon's life); sm has none. A None entry in ``sys.modules``
    makes that import fail at once, which FastAPI reads as "no v1 model here"."""
    sys.modules.setdefault("pydantic.v1", None)  # type: ignore[arg-type]


def _server_class() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            """Shut down, but don't re-raise the signal after serving as uvicorn does:
            that would kill the process before it removes its socket and pid file."""
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    return Server


def serve(config: Path | None = None) -> None:
    """``sm daemon run``: load the settings (``config``: a config.yaml other than the
    default), say what the environment got wrong, and run. Imports no CLI library: the
    daemon's memory holds what it serves with."""
    from sm import config as cfg

    settings = cfg.load(config)
    for warning in cfg.env_warnings(os.environ):
        print(f"sm: warning: {warning}", file=sys.stderr)
    run(settings)


def run(settings: Settings) -> None:
    """Serve in the foreground until SIGTERM/SIGINT. Raises Conflict when another
    daemon holds this SM_HOME and Unavailable when SM_HOME is not writable."""
    import uvicorn

    _refuse_pydantic_v1()
    from sm.daemon.app import create_app
    from sm.daemon.peer import protocol_class, ws_protocol_class

    home = settings.home
    check_socket_path(str(home))
    try:
        home.mkdir(parents=True, exist_ok=True)
        os.chmod(home, 0o700)
        lock_fd = _take_lock(home)
    except OSError as exc:
        raise Unavailable(f"SM_HOME {home} is not writable: {exc.strerror or exc}") from None
    _setup_logging(settings)
    pid_file = home / "daemon.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    sock = _bind(settings.socket_path)
    config = uvicorn.Config(
        create_app(settings), log_config=None, access_log=False, lifespan="on",
        loop="asyncio", http=protocol_class(), ws=ws_protocol_class(), timeout_keep_alive=30,
        proxy_headers=False,  # a Unix socket: no proxy stands in front of it
        timeout_graceful_shutdown=3,  # long polls (lock --wait, ask) must not hold a stop
    )
    server = _server_class()(config)
    logging.getLogger("sm.daemon").info(
        "daemon %s serving %s (tmux -L %s)", os.getpid(), settings.socket_path,
        settings.tmux_socket,
    )
    try:
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        for path in (settings.socket_path, pid_file):
            path.unlink(missing_ok=True)
        os.close(lock_fd)
    if not server.started:
        sys.exit(1)
