"""sm's own tmux server, driven through one long-lived control-mode client.

Layout: every agent is a tmux session of its own (``tmux attach -t sm-…`` works as
always), and its window is also linked into one hidden session, ``sm-control``, that
the daemon's single control client is attached to. A control client receives
``%output`` only for the panes of windows linked into its own session, so this one
client sees every agent's output, and the daemon's cost stays one process and two
pipes however many sessions run. The client is attached with ``ignore-size``: it never
changes a window's size. Killing an agent kills its window (a killed session alone
would leave the window alive in ``sm-control``).

Every command goes through that client: no fork per keystroke, paste or screen read.
Only (re)starting the server forks: a server born with pipes for stdio loses its
children's exit statuses and never fires ``pane-died``, so it is started by a short
``tmux start-server`` with no pipes. tmux errors are translated here and only here: a
missing binary is Unavailable, a missing session is NotFound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from sm.errors import NotFound, SmError, Unavailable
from sm.runtime.base import Pane
from sm.runtime.control import Control, unescape
from sm.runtime.output import PaneOutput, Subscription

log = logging.getLogger("sm.runtime")

CONTROL_SESSION = "sm-control"
_STREAM_FORMAT = "#{session_name}\t#{pane_id}\t#{pane_width}\t#{pane_height}\t#{window_id}"


class Tmux:
    """One tmux server, addressed by its socket name (``tmux -L``). ``pause_after``:
    tmux pauses a pane whose output the daemon has not read for that many seconds
    (a flooding agent cannot stall the loop); sm resumes it and redraws its screen."""

    def __init__(
        self, socket_name: str, binary: str = "tmux", history_limit: int = 50000, *,
        pause_after: int = 2, clock: Callable[[], float] = time.time,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.socket_name = socket_name
        self.binary = binary
        self.history_limit = history_limit
        # the environment tmux runs with, and so the server's global environment every
        # pane inherits (None: the caller's own)
        self.env = dict(env) if env is not None else None
        self.clock = clock
        self.control = Control(
            binary, socket_name, CONTROL_SESSION, prepare=self._prepare,
            notify=self._on_notify, on_connect=self._on_connect,
            flags=f"ignore-size,pause-after={pause_after}",
        )
        self._pane_died_command = ""
        self._streams: dict[str, PaneOutput] = {}  # by pane id
        self._pane_of: dict[str, str] = {}  # session name → pane id
        self._tasks: set[asyncio.Task[None]] = set()
        self._resync_due = False

    async def run(
        self, *args: str, stdin: bytes | None = None, capture: bool = True,
        path: str | None = None,
    ) -> str:
        """Run one tmux client process (a fork; only to start the server). ``capture=False``
        for a command that may start the server. ``path``: the client's PATH."""
        pipe = asyncio.subprocess.PIPE if capture else asyncio.subprocess.DEVNULL
        try:
            proc = await asyncio.create_subprocess_exec(
                self.binary, "-L", self.socket_name, *args,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=pipe,
                stderr=pipe,
                env=self._env(path),
            )
        except FileNotFoundError:
            raise Unavailable(
                f"tmux not found (tried {self.binary!r}); install tmux or set tmux.binary"
            ) from None
        out, err = await proc.communicate(stdin)
        if proc.returncode != 0:
            message = (err or b"").decode(errors="replace").strip() or f"exit {proc.returncode}"
            if any(m in message for m in ("can't find", "no server running", "no current target")):
                raise NotFound(f"tmux: {message}")
            if "error connecting" in message or "No such file" in message:
                raise NotFound(f"tmux: {message}")
            raise Unavailable(f"tmux {args[0]} failed: {message}")
        return (out or b"").decode(errors="replace")

    def _env(self, path: str | None) -> dict[str, str] | None:
        if path is None:
            return self.env
        return {**(os.environ if self.env is None else self.env), "PATH": path}

    async def start(self, pane_died_command: str) -> None:
        """Start the server (idempotent) with sm's options — keep dead panes for
        diagnosis, a generous history, a ``pane-died`` hook that reports exits — and
        attach the control client. ``#{@sm_session}`` in the hook is the agent's
        session name (``#{session_name}`` could name ``sm-control``)."""
        self._pane_died_command = pane_died_command
        await self.control.open(start=True)

    async def close(self) -> None:
        """Detach the control client; the server and the agents keep running."""
        await self.control.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for stream in self._streams.values():
            stream.end()

    async def _prepare(self, start: bool) -> None:
        """Before a (re)connect: with ``start``, start the server (idempotent) with sm's
        options; then make sure ``sm-control`` exists. Without ``start`` a missing server
        is NotFound: a reconnect never resurrects a server someone killed."""
        if not start:
            await self.run("list-sessions", "-F", "#{session_id}")  # NotFound: no server
            await self._control_session()
            return
        args = [
            "-f", "/dev/null", "start-server", ";",
            "set-option", "-s", "exit-empty", "off", ";",
            "set-option", "-g", "history-limit", str(self.history_limit), ";",
            "set-option", "-g", "remain-on-exit", "on", ";",
            "set-option", "-s", "escape-time", "10",
        ]
        if self._pane_died_command:
            args += [";", "set-hook", "-g", "pane-died",
                     f"run-shell -b {_tmux_quote(self._pane_died_command)}"]
        await self.run(*args, capture=False)
        if self.env is not None:  # a server started before with more: forget the rest
            listed = await self.run("show-environment", "-g")
            names = {line.lstrip("-").split("=", 1)[0] for line in listed.splitlines() if line}
            for name in sorted(names - set(self.env)):
                await self.run("set-environment", "-g", "-u", name)
        await self._control_session()

    async def _control_session(self) -> None:
        try:
            await self.run("has-session", "-t", f"={CONTROL_SESSION}")
        except NotFound:
            with contextlib.suppress(Unavailable):  # "duplicate session": someone was first
                await self.run("new-session", "-d", "-s", CONTROL_SESSION, "-n", "control",
                               "-x", "80", "-y", "24", "cat")

    # -- commands -----------------------------------------------------------------------
    async def new_session(
        self,
        name: str,
        argv: Sequence[str],
        cwd: str,
        env: Mapping[str, str],
        width: int = 200,
        height: int = 50,
        window: str = "",
    ) -> Pane:
        """Create a detached session running ``argv`` (no shell in between), its window
        linked into ``sm-control`` in the same step, so no output is missed. The window
        is named ``window`` (tmux then stops renaming it after the program)."""
        args = ["new-session", "-d", "-s", name, "-n", window or name, "-c", cwd,
                "-x", str(width), "-y", str(height)]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        args += ["-P", "-F", _PANE_FORMAT, "--", *argv]
        out, _, _ = await self.control.run(
            args,
            ["set-option", "-w", "-t", f"={name}:", "@sm_session", name],
            ["link-window", "-d", "-s", f"={name}:", "-t", f"={CONTROL_SESSION}:"],
            changes=True, start=True,
        )
        pane = _parse_pane(out.strip()) if out.strip() else await self.pane(name)
        self._track(name, pane.pane_id, width, height, current=True)
        return pane

    async def rename_window(self, name: str, window: str) -> None:
        await self.control.run(["rename-window", "-t", f"={name}:", window], changes=True)

    async def kill_session(self, name: str) -> None:
        """Kill the agent's window (everywhere it is linked), then what is left of its
        session. Raises NotFound when there is no such session."""
        await self.control.run(["kill-window", "-t", f"={name}:"], changes=True)
        with contextlib.suppress(NotFound):  # gone with its last window
            await self.control.run(["kill-session", "-t", f"={name}"], changes=True)
        self._untrack(name)

    async def has_session(self, name: str) -> bool:
        try:
            await self.control.run(["has-session", "-t", f"={name}"])
        except NotFound:
            return False
        return True

    async def panes(self) -> list[Pane]:
        """Every agent pane of the server in one round trip (empty when no server runs)."""
        try:
            out, = await self.control.run(["list-panes", "-a", "-F", _PANE_FORMAT])
        except NotFound:
            return []
        panes = [_parse_pane(line) for line in out.splitlines() if line.strip()]
        return [p for p in panes if p.session != CONTROL_SESSION]

    async def pane(self, name: str) -> Pane:
        out, = await self.control.run(["display-message", "-p", "-t", f"={name}:", _PANE_FORMAT])
        return _parse_pane(out.strip())

    async def capture(self, name: str, lines: int = 50, escapes: bool = False) -> str:
        """The last ``lines`` lines of the pane's screen and history, joined lines
        unwrapped, trailing blank lines dropped; ``escapes`` keeps the SGR sequences
        (faint, reverse video …) that tell a placeholder from typed text. One round
        trip on the control connection."""
        flags = ["-p", "-e", "-J"] if escapes else ["-p", "-J"]
        out, = await self.control.run(["capture-pane", *flags, "-S", f"-{lines}",
                                       "-t", f"={name}:"])
        return "\n".join(out.rstrip("\n").splitlines()[-lines:])

    async def send_keys(self, name: str, *keys: str) -> None:
        """Press tmux keys by name (``Enter``, ``Escape``, ``C-u``)."""
        await self.control.run(["send-keys", "-t", f"={name}:", *keys], changes=True)

    async def send_text(self, name: str, text: str) -> None:
        """Type ``text`` literally: a key name in it is typed, never pressed."""
        await self.control.run(["send-keys", "-t", f"={name}:", "-l", "--", text], changes=True)

    async def paste(self, name: str, text: str, buffer: str) -> None:
        """Paste ``text`` with bracketed paste through a named buffer, deleted after;
        loading and pasting are one line, so a reconnect never pastes twice."""
        await self.control.run(
            ["set-buffer", "-b", buffer, "--", text],
            ["paste-buffer", "-p", "-d", "-b", buffer, "-t", f"={name}:"],
            changes=True,
        )

    async def end_processes(self, pid: int, marker: str) -> int:
        from sm.runtime.processes import end_left_behind

        return await asyncio.to_thread(end_left_behind, pid, marker)

    async def reap(self) -> None:
        """Have the server run a no-op child (the server forks it, not the daemon)."""
        with contextlib.suppress(NotFound):  # no server: nothing to reap
            await self.control.run(["run-shell", "-b", "true"])

    async def kill_server(self) -> None:
        """End the server and every session on it; remove its socket file, which
        tmux 3.3 leaves behind. Idempotent."""
        await self.control.close()
        with contextlib.suppress(NotFound):
            await self.run("kill-server")
        with contextlib.suppress(OSError):
            os.unlink(self.socket_path)

    async def stop_if_empty(self) -> bool:
        """End the server when no agent runs in it (no pane, or only dead ones kept for
        diagnosis); returns whether it ended. A server with a live pane is left alone."""
        if any(not pane.dead for pane in await self.panes()):
            return False
        await self.kill_server()
        return True

    @property
    def socket_path(self) -> str:
        """Where ``tmux -L`` puts the socket: $TMUX_TMPDIR (or /tmp)/tmux-UID/NAME."""
        base = os.environ.get("TMUX_TMPDIR") or "/tmp"
        return os.path.join(base, f"tmux-{os.getuid()}", self.socket_name)

    # -- pushed output ------------------------------------------------------------------
    def output_at(self, name: str) -> float | None:
        """When the session's pane last wrote output, or when sm began to watch it if it
        wrote nothing since; None for a pane sm does not know. No round trip."""
        stream = self._streams.get(self._pane_of.get(name, ""))
        if stream is None:
            return None
        return stream.output_at if stream.output_at is not None else stream.known_at

    async def subscribe(self, name: str, screen: bool = True) -> Subscription:
        """A live view of the session's pane: a snapshot (``screen``), then every chunk
        after it. A snapshot costs a redraw (two commands on the connection) when bytes
        may have been missed, and from then on the pane's screen is kept. Raises
        NotFound for a session with no pane."""
        pane_id = self._pane_of.get(name)
        if pane_id is None:
            await self._resync()
            pane_id = self._pane_of.get(name)
            if pane_id is None:
                raise NotFound(f"tmux: no pane for session {name}")
        stream = self._streams[pane_id]
        if screen and not stream.current:
            await self._redraw(stream)
        return stream.subscribe(screen)

    def _track(self, name: str, pane_id: str, width: int, height: int, current: bool) -> None:
        old = self._pane_of.get(name)
        if old is not None and old != pane_id and old in self._streams:
            self._streams.pop(old).end()
        self._pane_of[name] = pane_id
        if pane_id not in self._streams:
            self._streams[pane_id] = PaneOutput(pane_id, width, height, current=current,
                                                clock=self.clock)

    def _untrack(self, name: str) -> None:
        pane_id = self._pane_of.pop(name, None)
        if pane_id is not None and pane_id in self._streams:
            self._streams.pop(pane_id).end()

    def _on_connect(self) -> None:
        for stream in self._streams.values():
            stream.current = False  # bytes written while no client listened are missed
        self._schedule_resync()

    def _on_notify(self, raw: bytes) -> None:
        if raw.startswith(b"%output "):
            parts = raw.split(b" ", 2)
            self._feed(parts[1], parts[2] if len(parts) > 2 else b"")
        elif raw.startswith(b"%extended-output "):
            head, _, data = raw.partition(b" : ")
            self._feed(head.split(b" ", 2)[1], data)
        elif raw.startswith(b"%pause "):
            pane_id = raw.split(b" ")[1].decode()
            log.info("tmux paused pane %s: its output ran ahead of the daemon", pane_id)
            self._spawn(self._resume(pane_id))
        elif raw.startswith((b"%window-close", b"%unlinked-window-close", b"%layout-change",
                             b"%sessions-changed")):
            self._schedule_resync()

    def _feed(self, pane: bytes, data: bytes) -> None:
        stream = self._streams.get(pane.decode())
        if stream is not None:
            stream.feed(unescape(data))

    async def _resume(self, pane_id: str) -> None:
        """A paused pane: let the loop breathe, resume it, redraw what was skipped."""
        await asyncio.sleep(0.2)
        with contextlib.suppress(SmError):
            await self.control.run(["refresh-client", "-A", f"{pane_id}:continue"])
            stream = self._streams.get(pane_id)
            if stream is not None and stream.keeps_screen:
                await self._redraw(stream)

    async def _redraw(self, stream: PaneOutput) -> None:
        with contextlib.suppress(NotFound):  # the pane went away meanwhile
            await self._redraw_now(stream)

    async def _redraw_now(self, stream: PaneOutput) -> None:
        screen, geometry = await self.control.run(
            ["capture-pane", "-p", "-e", "-t", stream.pane_id],
            ["display-message", "-p", "-t", stream.pane_id,
             "#{cursor_x} #{cursor_y} #{pane_width} #{pane_height}"],
        )
        x, y, w, h = (int(v) for v in geometry.split())
        stream.redraw(screen.split("\n"), (x, y), (w, h))

    def _schedule_resync(self) -> None:
        if not self._resync_due:
            self._resync_due = True
            self._spawn(self._resync())

    async def _resync(self) -> None:
        """Match the streams to the server's panes (one list-panes round trip)."""
        self._resync_due = False
        try:
            out, = await self.control.run(["list-panes", "-a", "-F", _STREAM_FORMAT])
        except SmError:
            return
        seen: dict[str, str] = {}
        linked: set[str] = set()
        windows: dict[str, str] = {}
        for line in out.splitlines():
            fields = line.split("\t")
            if len(fields) != 5:
                continue
            name, pane_id, width, height, window = fields
            if name == CONTROL_SESSION:
                linked.add(window)
                continue
            seen[name] = pane_id
            windows[name] = window
            self._track(name, pane_id, int(width), int(height), current=False)
            stream = self._streams[pane_id]
            if stream.size != (int(width), int(height)) and \
                    stream.resized(int(width), int(height)):
                self._spawn(self._redraw(stream))  # resized: pyte must follow
        for name in set(self._pane_of) - set(seen):
            self._untrack(name)
        for name, window in windows.items():
            if window not in linked:  # started by an sm before the control client
                with contextlib.suppress(SmError):
                    await self.control.run(
                        ["set-option", "-w", "-t", window, "@sm_session", name],
                        ["link-window", "-d", "-s", window, "-t", f"={CONTROL_SESSION}:"],
                        changes=True,
                    )

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


_PANE_FORMAT = (
    "#{session_name}\t#{pane_id}\t#{pane_pid}\t#{pane_dead}\t#{pane_dead_status}\t"
    "#{window_activity}\t#{pane_dead_signal}"
)


def _parse_pane(line: str) -> Pane:
    # a live pane's empty signal is the last field: a caller's strip() may have taken it
    session, pane_id, pid, dead, status, activity, signal = (line.split("\t") + [""])[:7]
    return Pane(
        session=session,
        pane_id=pane_id,
        pid=int(pid or 0),
        dead=dead == "1",
        dead_status=int(status) if status else None,
        activity=int(activity or 0),
        dead_signal=int(signal) if signal else None,
    )


def _tmux_quote(command: str) -> str:
    """Quote a shell command line as one tmux argument."""
    return "'" + command.replace("'", "'\\''") + "'" if "'" in command else f"'{command}'"
