"""sm's own tmux server, driven through the tmux binary with asyncio subprocesses.

Every call is one tmux client round trip (~2 ms) and never blocks the event loop.
tmux errors are translated here and only here: a missing binary is Unavailable, a
missing session is NotFound.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping, Sequence

from sm.errors import NotFound, Unavailable
from sm.runtime.base import Pane


class Tmux:
    """One tmux server, addressed by its socket name (``tmux -L``)."""

    def __init__(self, socket_name: str, binary: str = "tmux", history_limit: int = 50000,
                 env: Mapping[str, str] | None = None) -> None:
        self.socket_name = socket_name
        self.binary = binary
        self.history_limit = history_limit
        # the environment tmux runs with, and so the server's global environment every
        # pane inherits (None: the caller's own)
        self.env = dict(env) if env is not None else None

    async def run(
        self, *args: str, stdin: bytes | None = None, capture: bool = True,
        path: str | None = None,
    ) -> str:
        """Run one tmux command; return its stdout. ``capture=False`` for a command that
        may start the server: a server born with pipes for stdio loses its children's
        exit statuses and never fires ``pane-died``. ``path``: the client's PATH, which
        tmux gives a new session's first pane whatever ``-e`` says."""
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
        """Start the server (idempotent) with sm's options: keep dead panes for
        diagnosis, a generous history, and a ``pane-died`` hook that reports exits."""
        await self.run(
            "-f", "/dev/null", "start-server", ";",
            "set-option", "-s", "exit-empty", "off", ";",
            "set-option", "-g", "history-limit", str(self.history_limit), ";",
            "set-option", "-g", "remain-on-exit", "on", ";",
            "set-option", "-s", "escape-time", "10", ";",
            "set-hook", "-g", "pane-died", f"run-shell -b {_tmux_quote(pane_died_command)}",
            capture=False,
        )
        if self.env is not None:  # a server started before with more: forget the rest
            listed = await self.run("show-environment", "-g")
            names = {line.lstrip("-").split("=", 1)[0] for line in listed.splitlines() if line}
            for name in sorted(names - set(self.env)):
                await self.run("set-environment", "-g", "-u", name)

    async def new_session(
        self,
        name: str,
        argv: Sequence[str],
        cwd: str,
        env: Mapping[str, str],
        width: int = 200,
        height: int = 50,
    ) -> Pane:
        """Create a detached session running ``argv`` (no shell in between)."""
        args = ["new-session", "-d", "-s", name, "-c", cwd, "-x", str(width), "-y", str(height)]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        args += ["-P", "-F", _PANE_FORMAT, "--", *argv]
        out = await self.run(*args, path=env.get("PATH"))
        return _parse_pane(out.strip())

    async def kill_session(self, name: str) -> None:
        await self.run("kill-session", "-t", f"={name}")

    async def has_session(self, name: str) -> bool:
        try:
            await self.run("has-session", "-t", f"={name}")
        except NotFound:
            return False
        return True

    async def panes(self) -> list[Pane]:
        """Every pane of the server in one round trip (empty when no server runs)."""
        try:
            out = await self.run("list-panes", "-a", "-F", _PANE_FORMAT)
        except NotFound:
            return []
        return [_parse_pane(line) for line in out.splitlines() if line.strip()]

    async def pane(self, name: str) -> Pane:
        out = await self.run("display-message", "-p", "-t", f"={name}:", _PANE_FORMAT)
        return _parse_pane(out.strip())

    async def capture(self, name: str, lines: int = 50, escapes: bool = False) -> str:
        """The last ``lines`` lines of the pane's screen and history, joined lines
        unwrapped, trailing blank lines dropped; ``escapes`` keeps the SGR sequences
        (faint, reverse video …) that tell a placeholder from typed text."""
        flags = ("-p", "-e", "-J") if escapes else ("-p", "-J")
        out = await self.run("capture-pane", *flags, "-S", f"-{lines}", "-t", f"={name}:")
        return "\n".join(out.rstrip("\n").splitlines()[-lines:])

    async def send_keys(self, name: str, *keys: str) -> None:
        """Press tmux keys by name (``Enter``, ``Escape``, ``C-u``)."""
        await self.run("send-keys", "-t", f"={name}:", *keys)

    async def send_text(self, name: str, text: str) -> None:
        """Type ``text`` literally: a key name in it is typed, never pressed."""
        await self.run("send-keys", "-t", f"={name}:", "-l", "--", text)

    async def paste(self, name: str, text: str, buffer: str) -> None:
        """Paste ``text`` with bracketed paste through a named buffer, deleted after."""
        await self.run("load-buffer", "-b", buffer, "-", stdin=text.encode())
        await self.run("paste-buffer", "-p", "-d", "-b", buffer, "-t", f"={name}:")

    async def reap(self) -> None:
        await self.run("run-shell", "-b", "true")

    async def kill_server(self) -> None:
        with contextlib.suppress(NotFound):
            await self.run("kill-server")


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
