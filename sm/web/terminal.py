"""A live terminal for one browser viewer.

``PtyFeed`` runs ``tmux -L <sm socket> attach-session -r -f ignore-size -t =<session>``
on a pseudo-terminal of its own: tmux renders the agent's screen for that viewer at the
viewer's size, and ``ignore-size`` keeps the agent's window (and every other viewer)
as it is. The client is read-only until the viewer takes input, which starts a new
client without ``-r``. A viewer that reads slowly only slows its own PTY: reading stops
while its buffer is full, and tmux copes with a slow client by itself.

Any other source of pushed pane output (the runtime's own subscription, once it has
one) plugs in behind the same ``Feed`` protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import signal
import struct
import termios
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

_MAX_BUFFERED = 64  # chunks a viewer may lag behind before its PTY stops being read

TmuxRun = Callable[..., Awaitable[str]]


class SizePins:
    """Keeps an agent's window at sm's size while browsers view it.

    tmux ignores an ``ignore-size`` client's size only while a client without the flag
    is attached too; alone, a viewer would resize the agent's window. So while any
    browser views a session its window is ``window-size manual`` at sm's size, and the
    option is dropped again when the last viewer leaves. One count per session, in the
    daemon's memory: a restart ends every viewer anyway.
    """

    def __init__(self, run: TmuxRun, width: int, height: int) -> None:
        self.run = run
        self.width = width
        self.height = height
        self._viewers: dict[str, int] = {}

    async def pin(self, session: str) -> None:
        count = self._viewers.get(session, 0)
        self._viewers[session] = count + 1
        if count == 0:
            target = f"={session}:"
            await self.run("set-option", "-w", "-t", target, "window-size", "manual")
            await self.run("resize-window", "-t", target, "-x", str(self.width),
                           "-y", str(self.height))

    async def unpin(self, session: str) -> None:
        count = self._viewers.get(session, 0) - 1
        if count > 0:
            self._viewers[session] = count
            return
        self._viewers.pop(session, None)
        with contextlib.suppress(Exception):  # the session may be gone by now
            await self.run("set-option", "-w", "-u", "-t", f"={session}:", "window-size")


class Feed(Protocol):
    """Pane output for one viewer: bytes to write into a terminal emulator."""

    async def start(self) -> None: ...

    def output(self) -> AsyncIterator[bytes]: ...

    def resize(self, cols: int, rows: int) -> None: ...

    async def write(self, data: bytes) -> None:
        """Type into the pane; only after ``take_input``."""
        ...

    async def take_input(self) -> None: ...

    async def close(self) -> None: ...


class PtyFeed:
    def __init__(
        self, tmux_binary: str, socket: str, session: str, cols: int = 80, rows: int = 24,
    ) -> None:
        self.tmux_binary = tmux_binary
        self.socket = socket
        self.session = session
        self.cols, self.rows = _clamp(cols, rows)
        self.writable = False
        self._proc: asyncio.subprocess.Process | None = None
        self._master = -1
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._reading = False

    async def start(self) -> None:
        """Start the tmux client. Raises OSError when no PTY or tmux can be had."""
        master, slave = pty.openpty()
        _set_size(slave, self.cols, self.rows)
        env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        env["TERM"] = "xterm-256color"
        flags = "ignore-size" if self.writable else "ignore-size,read-only"
        try:
            self._proc = await asyncio.create_subprocess_exec(
                self.tmux_binary, "-L", self.socket, "attach-session", "-f", flags,
                "-t", f"={self.session}",
                stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
            )
        finally:
            os.close(slave)
        self._master = master
        os.set_blocking(master, False)
        self._resume()
        asyncio.get_running_loop().create_task(self._reap(self._proc, master))

    async def output(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self._queue.get()
            if chunk is None:
                return
            if not self._reading and self._queue.qsize() < _MAX_BUFFERED // 2:
                self._resume()
            yield chunk

    def resize(self, cols: int, rows: int) -> None:
        self.cols, self.rows = _clamp(cols, rows)
        if self._master >= 0:
            _set_size(self._master, self.cols, self.rows)
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGWINCH)  # no controlling tty: say it ourselves

    async def write(self, data: bytes) -> None:
        if self.writable and self._master >= 0:
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(self._master, data)

    async def take_input(self) -> None:
        """Swap the read-only client for one that types (the same viewer, same size)."""
        if self.writable:
            return
        await self._stop(replacing=True)
        self.writable = True
        await self.start()

    async def close(self) -> None:
        await self._stop(replacing=False)

    # -- internals ---------------------------------------------------------------------
    def _resume(self) -> None:
        if self._master >= 0 and not self._reading:
            asyncio.get_running_loop().add_reader(self._master, self._read, self._master)
            self._reading = True

    def _read(self, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._detach(fd)
            return
        self._queue.put_nowait(data)
        if self._queue.qsize() >= _MAX_BUFFERED:
            asyncio.get_running_loop().remove_reader(fd)
            self._reading = False

    def _detach(self, fd: int) -> None:
        if fd == self._master:
            asyncio.get_running_loop().remove_reader(fd)
            self._reading = False

    async def _reap(self, proc: asyncio.subprocess.Process, master: int) -> None:
        await proc.wait()
        if master == self._master:
            self._queue.put_nowait(None)  # the client ended: the session is gone

    async def _stop(self, replacing: bool) -> None:
        proc, master = self._proc, self._master
        self._proc, self._master = None, -1
        if master >= 0:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(master)
            self._reading = False
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 2.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if master >= 0:
            os.close(master)
        if not replacing:
            self._queue.put_nowait(None)


def _clamp(cols: int, rows: int) -> tuple[int, int]:
    return max(10, min(int(cols), 500)), max(3, min(int(rows), 200))


def _set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
