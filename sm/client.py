"""The HTTP-over-Unix-socket client. Stdlib only: agents call it many times a turn.

A tiny HTTP/1.1 speaker on a raw socket (``http.client`` alone costs more to import
than the whole request). ``Client.request`` starts the daemon when nobody listens on
the socket, waits until it answers ``/health``, and goes on.
"""

from __future__ import annotations

import _socket  # socket.py turns its constants into enums at import: ~2 ms per call
import os
import sys
import time

from sm.errors import InvalidInput, SmError, Unavailable, from_payload

TYPE_CHECKING = False  # typing itself costs a few ms on every agent call
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

_START_TIMEOUT = 20.0
SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes with the terminating NUL
_STREAM_IDLE = 60.0  # the daemon sends a keep-alive every 15 s: silence this long is a death


def sm_home() -> str:
    """$SM_HOME, default ~/.sm (a string: pathlib costs more to import than a request)."""
    return os.path.expanduser(os.environ.get("SM_HOME") or "~/.sm")


class Client:
    """Talks to the daemon of one SM_HOME. Inside an agent the kernel tells the daemon
    who calls; the session's token (``SM_SESSION_TOKEN``, or the file
    ``SM_SESSION_TOKEN_FILE`` names) backs it up."""

    def __init__(
        self,
        home: str | None = None,
        token: str | None = None,
        session_id: str | None = None,
        timeout: float | None = 60.0,  # None: a request may take as long as it needs
        autostart: bool = True,
    ) -> None:
        self.home = str(home) if home else sm_home()
        self.socket_path = os.path.join(self.home, "sm.sock")
        self.token = token if token is not None else _env_token()
        self.session_id = (
            session_id if session_id is not None else os.environ.get("SM_SESSION_ID", "")
        )
        self.timeout = timeout
        self.autostart = autostart

    # -- requests -----------------------------------------------------------------
    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", _with_query(path, query))

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request and return the decoded JSON body. Raises the SmError the
        daemon raised, or Unavailable when no daemon can be reached or started."""
        data = None if body is None else _dumps(body).encode()
        status, raw = self.send(method, path, data)
        try:
            payload = _loads(raw) if raw else None
        except ValueError:
            if status < 400:
                raise SmError(
                    f"the daemon answered {method} {path} with a body that is not JSON"
                ) from None
            payload = None
        if status >= 400:
            raise from_payload(payload, status)
        return payload

    def send(self, method: str, path: str, data: bytes | None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """One request with a ready JSON body (and extra ``headers``); the status and
        the raw answer. Raises Unavailable when no daemon can be reached (or started,
        with ``autostart``)."""
        try:
            sock = self._connect()
        except OSError:
            if not self.autostart:
                raise Unavailable(f"no sm daemon is listening on {self.socket_path}") from None
            self.start_daemon()
            sock = self._connect()
        try:
            with _closing(sock):
                _send(sock, method, path, data, {**self._headers(), **(headers or {})})
                status, _headers, raw = _read_response(sock)
        except (ConnectionError, TimeoutError) as exc:
            raise Unavailable(
                f"the sm daemon went away during {method} {path.split('?')[0]} ({exc}); "
                "it may or may not have been applied"
            ) from None
        return status, raw

    def stream(
        self, path: str, autostart: bool | None = None, **query: Any
    ) -> Iterator[str]:
        """Yield the lines of a streaming (chunked) response, e.g. server-sent events.
        Raises Unavailable when the daemon goes away mid-stream."""
        try:
            sock = self._connect(timeout=_STREAM_IDLE)
        except OSError:
            if not (self.autostart if autostart is None else autostart):
                raise Unavailable(f"no sm daemon is listening on {self.socket_path}") from None
            self.start_daemon()
            sock = self._connect(timeout=_STREAM_IDLE)
        with _closing(sock):
            _send(sock, "GET", _with_query(path, query), None, self._headers())
            reader = _Reader(sock)
            try:
                status, headers = reader.head()
                if status >= 400:
                    import json

                    raise from_payload(json.loads(reader.body(headers) or b"null"), status)
                buf = b""
                for chunk in reader.chunks():
                    buf += chunk
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        yield line.decode("utf-8", "replace")
            except (ConnectionError, TimeoutError) as exc:
                raise Unavailable(f"the sm daemon went away during a stream ({exc})") from None
        raise Unavailable("the sm daemon ended the stream")

    def follow(
        self, path: str = "/events/stream", after: int | None = None,
        on_gap: Callable[[str], None] | None = None,
        stop: Callable[[], bool] | None = None, **query: Any,
    ) -> Iterator[dict[str, Any]]:
        """Yield the frames of the event stream for ever. When the daemon goes away
        (a restart, a crash) wait for the next one and go on from the last seq seen:
        no gap, no duplicate. ``on_gap`` is told once per outage. The first connection
        may start the daemon; reconnections never do (a stopped daemon stays stopped
        until someone starts it); ``stop`` returning true ends it at the next outage."""
        import json

        last = after
        autostart = self.autostart
        delay = 0.05
        told = False
        while True:
            try:
                for line in self.stream(path, autostart=autostart, after=last, **query):
                    if not line.startswith("data: "):
                        continue
                    item = json.loads(line[6:])
                    delay, told = 0.05, False
                    if isinstance(item.get("seq"), int) and item.get("kind") != "keepalive":
                        last = max(last or 0, item["seq"])
                    yield item
            except Unavailable as exc:
                if on_gap is not None and not told:
                    on_gap(exc.message)
                told = True
            if stop is not None and stop():
                return
            query.pop("snapshot", None)  # a reconnection resumes from ``last`` instead
            autostart = False
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _headers(self) -> dict[str, str]:
        headers = {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.session_id:
            headers["X-Sm-Session"] = self.session_id
        return headers

    def _connect(self, timeout: float | None = -1.0) -> _socket.socket:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        sock.settimeout(self.timeout if timeout == -1.0 else timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        return sock

    # -- the daemon ---------------------------------------------------------------
    def is_up(self) -> bool:
        try:
            with _closing(self._connect(timeout=2.0)) as sock:
                _send(sock, "GET", "/health", None, {})
                return _read_response(sock)[0] == 200
        except OSError:
            return False

    def start_daemon(self) -> None:
        """Start the daemon in the background (its own session, so it outlives the
        caller's terminal) and wait until it answers. Safe to race: the loser of two
        concurrent starts exits at once and both callers see the winner; when the
        winner dies starting, the loser starts another."""
        _check_home(self.home)
        from sm.config import env_warnings

        for warning in env_warnings(os.environ):
            print(f"sm: warning: {warning}", file=sys.stderr)
        log_dir = os.path.join(self.home, "logs")
        os.makedirs(log_dir, exist_ok=True)
        proc = self._spawn_daemon(log_dir)
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self.is_up():
                return
            code = proc.poll()
            if code not in (None, 0) and not self.is_up() and not _lock_held(self.home):
                reason = _last_line(log_dir)
                if "already runs" not in reason:
                    raise Unavailable(f"the sm daemon failed to start: {reason}")
                # lost a start race to a daemon that then died starting: start again
                proc = self._spawn_daemon(log_dir)
            time.sleep(0.02)
        raise Unavailable(
            f"the sm daemon did not answer within {_START_TIMEOUT:.0f}s; "
            f"see {os.path.join(log_dir, 'daemon.out')}"
        )

    def _spawn_daemon(self, log_dir: str) -> Any:
        import subprocess

        env = {k: v for k, v in os.environ.items() if not k.startswith("SM_SESSION_")}
        env["SM_HOME"] = self.home
        with open(os.path.join(log_dir, "daemon.out"), "ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "sm", "daemon", "run"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                close_fds=True,
            )


def _env_token() -> str:
    token = os.environ.get("SM_SESSION_TOKEN", "")
    path = os.environ.get("SM_SESSION_TOKEN_FILE", "")
    if token or not path:
        return token
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""  # the kernel still says who calls from inside a session


def _lock_held(home: str) -> bool:
    """Whether a daemon (perhaps still starting) holds this home's lock."""
    import fcntl

    try:
        fd = os.open(os.path.join(home, "daemon.lock"), os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _dumps(obj: Any) -> str:
    """JSON for a request body. ``json`` imports ``re`` (~5 ms a call): plain shapes are
    written with the C helpers ``json`` itself uses, anything else by ``json``."""
    from _json import encode_basestring_ascii

    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if isinstance(obj, str):
        return str(encode_basestring_ascii(obj))
    if isinstance(obj, int):
        return int.__repr__(obj)
    if isinstance(obj, list | tuple):
        return "[" + ",".join(_dumps(v) for v in obj) + "]"
    if isinstance(obj, dict) and all(isinstance(k, str) for k in obj):
        return "{" + ",".join(f"{encode_basestring_ascii(k)}:{_dumps(v)}"
                              for k, v in obj.items()) + "}"
    import json

    return json.dumps(obj)


class _Strict:
    """What ``_json``'s C scanner reads from its context (``json.JSONDecoder``'s)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity, -Infinity


def _loads(raw: bytes) -> Any:
    """Decode a JSON answer with ``json``'s C scanner, without importing ``json``."""
    from _json import make_scanner

    text = raw.decode("utf-8").strip()
    try:
        value, end = make_scanner(_Strict())(text, 0)  # type: ignore[arg-type]
    except StopIteration:
        raise ValueError("not JSON") from None
    if end != len(text):
        raise ValueError("extra data after the JSON value")
    return value


def check_socket_path(home: str) -> None:
    """Raises InvalidInput when ``$SM_HOME/sm.sock`` is too long for a Unix socket
    (checked before anything is created under SM_HOME)."""
    path = os.path.join(home, "sm.sock")
    if len(path.encode()) > SOCKET_PATH_MAX:
        raise InvalidInput(f"SM_HOME {home} is too long: its socket path {path} has "
                           f"{len(path.encode())} characters; the limit is {SOCKET_PATH_MAX}")


def _check_home(home: str) -> None:
    check_socket_path(home)
    try:
        os.makedirs(home, exist_ok=True)
        probe = os.path.join(home, f".write-probe-{os.getpid()}-{os.urandom(4).hex()}")
        with open(probe, "wb"):
            pass
        os.unlink(probe)
    except OSError as exc:
        raise Unavailable(f"SM_HOME {home} is not writable: {exc.strerror or exc}") from None


def _last_line(log_dir: str) -> str:
    try:
        with open(os.path.join(log_dir, "daemon.out"), errors="replace") as f:
            lines = f.read().strip().splitlines()
    except OSError:
        return "no output"
    return lines[-1] if lines else "no output"


class _closing:
    """``with`` for a raw ``_socket.socket``, which is no context manager itself."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock

    def __enter__(self) -> _socket.socket:
        return self.sock

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def _with_query(path: str, query: dict[str, Any]) -> str:
    items = [f"{_quote(str(k))}={_quote(str(v))}" for k, v in query.items() if v is not None]
    return f"{path}?{'&'.join(items)}" if items else path


def quote_ref(ref: str) -> str:
    """``ref`` as one path segment: every byte but the unreserved ones percent-encoded
    (``urllib.parse`` costs more to import than the request)."""
    return _quote(ref)


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def _quote(text: str) -> str:
    try:  # a byte of argv that is not UTF-8 goes as that byte (the daemon names it)
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogatepass")
    if all(b in _UNRESERVED for b in raw):
        return text
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in raw)


def _send(
    sock: _socket.socket, method: str, path: str, data: bytes | None, headers: dict[str, str]
) -> None:
    head = [f"{method} {path} HTTP/1.1", "Host: sm", f"Content-Length: {len(data or b'')}"]
    if data is not None:
        head.append("Content-Type: application/json")
    head += [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + (data or b""))


def _read_response(sock: _socket.socket) -> tuple[int, dict[str, str], bytes]:
    reader = _Reader(sock)
    status, headers = reader.head()
    return status, headers, reader.body(headers)


class _Reader:
    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise Unavailable("the sm daemon closed the connection mid-answer")
        self.buf += chunk

    def head(self) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split()[1])
        except (IndexError, ValueError):
            raise SmError(f"bad HTTP status line from the daemon: {lines[0]!r}") from None
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers

    def body(self, headers: dict[str, str]) -> bytes:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return b"".join(self.chunks())
        length = int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        return self.buf[:length]

    def chunks(self) -> Iterator[bytes]:
        while True:
            while b"\r\n" not in self.buf:
                self._fill()
            size_line, self.buf = self.buf.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(self.buf) < size + 2:
                self._fill()
            data, self.buf = self.buf[:size], self.buf[size + 2 :]
            if size == 0:
                return
            yield data
