"""One long-lived tmux control-mode client (``tmux -C``): command lines in, replies and
notifications out, on one pair of pipes.

The wire (tmux(1), CONTROL MODE): each command line we write is answered, in order, by
one ``%begin TIME NUMBER FLAGS`` … ``%end``/``%error`` block per command in the line
(FLAGS bit 1: the command came from this client); the first ``%error`` skips the rest
of its line. Every other line starting with ``%`` is a notification (``%output``,
``%pause``, ``%exit`` …), never inside a block.

A dead client (its process killed, the server gone, a wedged pipe) is replaced. Lines
that were in flight are then settled, never dropped: a read is sent again; a line that
changes something carries a serial that it stores in the server (``@sm-serial``) as its
last command, so after the reconnect a serial at or below the server's ran (all of it:
tmux runs one line's commands back to back) and one above it never did and is sent
again. A line in flight across a server restart fails with Unavailable. A reconnect
never starts a server: when the server is gone, what was in flight fails, and the next
command that may start one (``run(..., start=True)``) does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from sm.errors import NotFound, SmError, Unavailable

log = logging.getLogger("sm.runtime")

Notify = Callable[[bytes], None]
Prepare = Callable[[bool], Awaitable[None]]

_SAFE = re.compile(r"[A-Za-z0-9_./:=,+@-]+")
_ESCAPE = re.compile(r'[\\"$\x00-\x1f\x7f]')
_OCTAL = re.compile(rb"\\([0-7]{3})")
_NOT_FOUND = ("can't find", "no server running", "no current target", "no such")
_SERIAL = "@sm-serial"
_LINE_LIMIT = 64 * 1024 * 1024
# The control client ends with the daemon, however the daemon ends: a client whose
# reader died can stay attached (it notices only when a write fails), and a server told
# to exit waits for every client — one such client wedges the server for good, and every
# later start of it fails ("server exited unexpectedly"). util-linux's setpriv sets the
# parent-death signal and execs tmux (the client keeps its pid).
_SETPRIV = shutil.which("setpriv")
_DIE_WITH_PARENT = (_SETPRIV, "--pdeathsig", "KILL", "--") if _SETPRIV else ()


def quote(arg: str) -> str:
    """One argument as tmux's command parser reads it back unchanged: a double-quoted
    string with ``\\``, ``"``, ``$``, a leading ``~`` (home) and control characters
    (octal) escaped."""
    if _SAFE.fullmatch(arg):
        return arg
    body = _ESCAPE.sub(_escape_char, arg)
    return '"' + ("\\" + body if body.startswith("~") else body) + '"'


def _escape_char(m: re.Match[str]) -> str:
    ch = m.group()
    return "\\" + ch if ch in '\\"$' else f"\\{ord(ch):03o}"


def unescape(data: bytes) -> bytes:
    """``%output`` data: tmux writes bytes below 32 and ``\\`` as ``\\ooo``."""
    if b"\\" not in data:
        return data
    return _OCTAL.sub(lambda m: bytes((int(m.group(1), 8),)), data)


@dataclass(eq=False)
class _Line:
    commands: list[list[str]]
    serial: int | None  # set for a line that changes something
    future: asyncio.Future[list[str]]
    outputs: list[str] = field(default_factory=list)

    @property
    def wire(self) -> bytes:
        cmds = list(self.commands)
        if self.serial is not None:
            cmds.append(["set-option", "-s", _SERIAL, str(self.serial)])
        return (" ; ".join(" ".join(quote(a) for a in c) for c in cmds) + "\n").encode()

    @property
    def blocks(self) -> int:
        return len(self.commands) + (self.serial is not None)

    @property
    def name(self) -> str:
        return self.commands[0][0]


class Control:
    """The control client. ``prepare(start)`` runs before each (re)connect: it makes
    sure ``session`` exists and, with ``start``, that the server runs (started with no
    pipes for stdio); without ``start`` it raises NotFound when no server runs. ``notify``
    gets every notification line, unparsed; ``on_connect`` runs after each connect;
    ``flags`` are the client flags (``attach-session -f``). Nothing here forks per
    command."""

    def __init__(
        self, binary: str, socket_name: str, session: str, *, prepare: Prepare,
        notify: Notify, on_connect: Callable[[], None] | None = None, flags: str = "",
        timeout: float = 30.0,
    ) -> None:
        self.binary = binary
        self.socket_name = socket_name
        self.session = session
        self.prepare = prepare
        self.notify = notify
        self.on_connect = on_connect
        self.flags = flags
        self.timeout = timeout
        self.connects = 0  # how many control clients were started (a figure for tests)
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._inflight: deque[_Line] = deque()
        self._connected = asyncio.Event()
        self._lock = asyncio.Lock()
        self._serial = 0
        self._server_pid = ""
        self._closed = False
        self._reconnecting: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        """The control client's process id (None when not connected)."""
        return self._proc.pid if self._proc is not None and self._connected.is_set() else None

    async def open(self, start: bool = True) -> None:
        """Connect (idempotent); ``start``: start the server if none runs. Raises
        Unavailable when tmux cannot be reached, NotFound when no server runs and
        ``start`` is False."""
        self._closed = False
        async with self._lock:
            if not self._connected.is_set():
                await self._connect(start)

    async def close(self) -> None:
        """Detach: the client exits; the tmux server and its sessions keep running."""
        self._closed = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        proc, self._proc = self._proc, None
        self._connected.clear()
        if proc is not None and proc.returncode is None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 2.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        self._fail_all(Unavailable("the tmux control connection was closed"))

    async def run(
        self, *commands: Sequence[str], changes: bool = False, start: bool = False,
    ) -> list[str]:
        """Send one line of commands; return each command's output. ``changes``: the
        line changes something and must run at most once across a reconnect; ``start``:
        start a server if none runs. Raises NotFound (no such session/pane/server) or
        Unavailable (tmux failed, or the connection could not be re-established)."""
        if self._closed:
            raise Unavailable("the tmux runtime is closed")
        if not self._connected.is_set():
            await self.open(start)
        loop = asyncio.get_running_loop()
        line = _Line([list(c) for c in commands], None, loop.create_future())
        if changes:
            self._serial += 1
            line.serial = self._serial
        self._send(line)
        try:
            return await asyncio.wait_for(asyncio.shield(line.future), self.timeout)
        except TimeoutError:
            self._drop(f"no reply to {line.name} within {self.timeout:.0f}s")
            raise Unavailable(f"tmux {line.name}: no reply within {self.timeout:.0f}s") from None

    # -- the connection ---------------------------------------------------------------
    async def _connect(self, start: bool) -> None:
        lost = list(self._inflight)
        self._inflight.clear()
        try:
            await self._attach(start)
            pid, serial = await self._probe()
        except BaseException:
            self._inflight.extendleft(reversed(lost))
            raise
        restarted = bool(self._server_pid) and pid != self._server_pid
        self._server_pid = pid
        self._serial = max(self._serial, serial)
        self._connected.set()
        if self.on_connect is not None:
            self.on_connect()
        for line in lost:
            if line.future.done():
                continue
            if line.serial is None:
                line.outputs.clear()
                self._send(line)
            elif restarted:
                line.future.set_exception(Unavailable(
                    f"tmux {line.name}: the tmux server was restarted while it was in flight"))
            elif line.serial <= serial:
                missing = len(line.commands) - len(line.outputs)
                line.future.set_result(line.outputs + [""] * max(0, missing))
            else:
                line.outputs.clear()
                self._send(line)

    async def _attach(self, start: bool) -> None:
        await self.prepare(start)
        try:
            proc = await asyncio.create_subprocess_exec(
                *_DIE_WITH_PARENT, self.binary, "-L", self.socket_name, "-C", "attach-session",
                *(["-f", self.flags] if self.flags else []), "-t", f"={self.session}",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL, limit=_LINE_LIMIT,
            )
        except FileNotFoundError:
            raise Unavailable(
                f"tmux not found (tried {self.binary!r}); install tmux or set tmux.binary"
            ) from None
        self.connects += 1
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._proc = proc
        self._reader = asyncio.create_task(self._read(proc, ready))
        try:
            await asyncio.wait_for(asyncio.shield(ready), self.timeout)
        except (TimeoutError, SmError) as exc:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise Unavailable(f"tmux control client did not attach: {exc}") from None

    async def _probe(self) -> tuple[str, int]:
        """The server's pid and the serial of the last changing line it ran."""
        loop = asyncio.get_running_loop()
        line = _Line([["display-message", "-p", "#{pid}"],
                      ["show-options", "-sv", _SERIAL]], None, loop.create_future())
        self._inflight.append(line)
        self._write(line)
        try:
            outputs = await asyncio.wait_for(asyncio.shield(line.future), self.timeout)
        except TimeoutError:
            self._drop("no answer to the connection probe")
            raise Unavailable("tmux control client did not answer") from None
        except SmError as exc:  # no changing line ran on this server yet: the option is unset
            if not line.outputs:
                self._drop(f"the connection probe failed ({exc.message})")
                raise Unavailable(f"tmux control client: {exc.message}") from None
            outputs = [line.outputs[0], "0"]
        serial = outputs[1].strip()
        return outputs[0].strip(), int(serial) if serial.isdigit() else 0

    def _send(self, line: _Line) -> None:
        if not self._connected.is_set():
            self._inflight.append(line)  # sent (or settled) by the reconnect
            return
        self._inflight.append(line)
        self._write(line)

    def _write(self, line: _Line) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdin.is_closing():
            return  # the reader sees the end and reconnects
        proc.stdin.write(line.wire)

    async def _read(self, proc: asyncio.subprocess.Process, ready: asyncio.Future[None]) -> None:
        assert proc.stdout is not None
        block: list[bytes] | None = None
        mine = False
        reason = "the tmux control client exited"
        try:
            while True:
                raw = await proc.stdout.readline()
                if not raw:
                    break
                raw = raw.rstrip(b"\n")
                if block is not None:
                    if raw.startswith((b"%end ", b"%error ")):
                        if mine:
                            self._settle(block, raw.startswith(b"%error "))
                        elif not ready.done():
                            ready.set_result(None)
                        block = None
                    else:
                        block.append(raw)
                elif raw.startswith(b"%begin "):
                    block, mine = [], raw.rsplit(b" ", 1)[-1] == b"1"
                elif raw.startswith(b"%exit"):
                    reason = f"tmux control client: {raw.decode(errors='replace')}"
                else:
                    if raw.startswith(b"%session-changed") and not ready.done():
                        ready.set_result(None)
                    try:
                        self.notify(raw)
                    except Exception:  # a listener's bug must not kill the connection
                        log.exception("tmux notification handler failed on %r", raw[:80])
        except (ValueError, asyncio.LimitOverrunError) as exc:
            reason = f"tmux control client: unreadable output ({exc})"
        finally:
            if not ready.done():
                ready.set_exception(Unavailable(reason))
            if self._proc is proc:
                self._lost(reason)
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            with contextlib.suppress(Exception):
                await proc.wait()

    def _settle(self, block: list[bytes], error: bool) -> None:
        if not self._inflight:
            log.warning("tmux reply with no command waiting for it")
            return
        line = self._inflight[0]
        text = b"\n".join(block).decode(errors="replace")
        if error:
            self._inflight.popleft()
            if not line.future.done():
                message = text.strip() or "failed"
                exc_type = NotFound if any(m in message for m in _NOT_FOUND) else Unavailable
                line.future.set_exception(exc_type(f"tmux {line.name}: {message}"))
            return
        line.outputs.append(text)
        if len(line.outputs) >= line.blocks:
            self._inflight.popleft()
            if not line.future.done():
                line.future.set_result(line.outputs[: len(line.commands)])

    def _drop(self, reason: str) -> None:
        """Give up on a wedged client: kill it; the reader reconnects."""
        log.warning("dropping the tmux control client: %s", reason)
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    def _lost(self, reason: str) -> None:
        self._connected.clear()
        self._proc = None
        if self._closed:
            return
        log.warning("%s; reconnecting", reason)
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.create_task(self._reconnect(reason))

    async def _reconnect(self, reason: str) -> None:
        delay = 0.05
        for _ in range(8):
            if self._closed:
                return
            try:
                await self.open(start=False)
                log.info("tmux control client reconnected (pid %s)", self.pid)
                return
            except NotFound:
                reason = "the tmux server exited"
                break
            except SmError as exc:
                reason = exc.message
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        self._fail_all(Unavailable(f"the tmux control connection is down: {reason}"))

    def _fail_all(self, exc: SmError) -> None:
        while self._inflight:
            line = self._inflight.popleft()
            if not line.future.done():
                line.future.set_exception(exc)
