"""The ``Runtime`` protocol: what core needs from the terminal multiplexer.

Core depends on this protocol, never on the tmux class: the tmux implementation
(``runtime/tmux.py``) sits behind it, and unit tests of delivery decisions use a fake.
Sessions are addressed by their runtime name (``SessionRecord.tmux_session``).
Commands cost one round trip on a long-lived connection (no process per command); pane
output is pushed, so ``output_at`` and ``subscribe`` read memory, not the terminal.
Errors: NotFound for a session or pane that is not there, Unavailable when the
runtime itself cannot run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sm.runtime.output import Subscription


@dataclass(frozen=True)
class Pane:
    session: str
    pane_id: str
    pid: int
    dead: bool
    dead_status: int | None
    activity: int
    dead_signal: int | None = None

    @property
    def status_known(self) -> bool:
        """Whether tmux has the dead pane's exit status yet: it marks a pane dead when its
        terminal closes, and learns the status only once it reaps the process."""
        return self.dead_status is not None or self.dead_signal is not None

    @property
    def exit_status(self) -> int:
        """The shell convention: the exit status, or 128 + the signal that killed it."""
        if self.dead_signal:
            return 128 + self.dead_signal
        return self.dead_status or 0


class Runtime(Protocol):
    async def start(self, pane_died_command: str) -> None:
        """Start the server (idempotent); ``pane_died_command`` runs when a pane dies."""
        ...

    async def new_session(
        self, name: str, argv: Sequence[str], cwd: str, env: Mapping[str, str],
        width: int = 200, height: int = 50, window: str = "",
    ) -> Pane:
        """Create a detached session running ``argv`` (no shell in between); its window
        is called ``window`` (default: ``name``), never after the program it runs."""
        ...

    async def rename_window(self, name: str, window: str) -> None:
        """Call session ``name``'s window ``window``. Raises NotFound when it is gone."""
        ...

    async def kill_session(self, name: str) -> None: ...

    async def has_session(self, name: str) -> bool: ...

    async def panes(self) -> list[Pane]:
        """Every pane of the server (empty when no server runs)."""
        ...

    async def pane(self, name: str) -> Pane: ...

    async def capture(self, name: str, lines: int = 50, escapes: bool = False) -> str:
        """The last ``lines`` lines of screen and history; ``escapes`` keeps SGR codes."""
        ...

    async def send_keys(self, name: str, *keys: str) -> None:
        """Press keys by name (``Enter``, ``Escape``, ``C-u``)."""
        ...

    async def send_text(self, name: str, text: str) -> None:
        """Type ``text`` literally: a key name in it is typed, never pressed."""
        ...

    async def paste(self, name: str, text: str, buffer: str) -> None:
        """Paste ``text`` with bracketed paste."""
        ...

    async def end_processes(self, pid: int, marker: str) -> int:
        """End every process an agent left behind: those in the process session of its
        pane (whose first process was ``pid``) or with ``marker`` (``NAME=value``) in
        their environment. Returns how many."""
        ...

    async def reap(self) -> None:
        """Make the server notice children that exited unreported (tmux 3.3)."""
        ...

    async def kill_server(self) -> None: ...

    async def close(self) -> None:
        """Let go of the terminal server (the agents keep running)."""
        ...

    def output_at(self, name: str) -> float | None:
        """The wall time of the pane's last output (or of when the runtime began to watch
        it, if it wrote nothing since); None for an unknown pane. No round trip."""
        ...

    async def subscribe(self, name: str, screen: bool = True) -> Subscription:
        """A live view of the session's pane, for terminal views (web, ``sm watch``);
        ``screen=False``: the chunks only (``sub.snapshot`` is None), for a watch that
        needs to know *when* the pane writes — no screen is kept for it.

        ``sub.snapshot`` is where to start: ``Snapshot(seq, width, height, lines,
        cursor)`` — the screen as plain text lines after chunk ``seq``, the cursor as
        0-based (x, y). Then ``async for chunk in sub`` yields ``Chunk(seq, data)``: the
        raw bytes the pane wrote (escape sequences included, to feed a terminal
        emulator), ``seq`` = the previous + 1, starting at ``snapshot.seq + 1``. When
        bytes were missed (tmux paused a flooding pane, the connection was re-made) a
        chunk that clears and redraws the whole screen follows, so applying every chunk
        in order always ends on the pane's real screen. Iteration ends when the pane
        goes away, after ``sub.close()``, or when the subscriber fell too far behind
        (``sub.lagged``; subscribe again). A slow subscriber never slows the daemon.
        Raises NotFound when the session has no pane."""
        ...
