"""The ``Runtime`` protocol: what core needs from the terminal multiplexer.

Core depends on this protocol, never on the tmux class: the tmux implementation
(``runtime/tmux.py``) sits behind it, and unit tests of delivery decisions use a fake.
Sessions are addressed by their runtime name (``SessionRecord.tmux_session``).
Errors: NotFound for a session or pane that is not there, Unavailable when the
runtime itself cannot run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


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
        width: int = 200, height: int = 50,
    ) -> Pane:
        """Create a detached session running ``argv`` (no shell in between)."""
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
