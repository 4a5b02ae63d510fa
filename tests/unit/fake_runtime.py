"""A ``Runtime`` with no tmux behind it, for unit tests of what core decides to type.

Each session is a screen (text set by the test) and a log of what was pressed, typed
and pasted. A test drives the agent's side by changing the screen and by calling the
daemon's hook handling itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sm.errors import NotFound
from sm.runtime.base import Pane


@dataclass
class FakePane:
    screen: str = ""
    sent: list[tuple[str, str]] = field(default_factory=list)  # (keys|text|paste, what)
    dead: bool = False
    dead_status: int | None = 0  # what tmux knows of a dead pane's exit (None: not reaped)


class FakeRuntime:
    def __init__(self) -> None:
        self.panes_by_name: dict[str, FakePane] = {}
        self.started = False

    def pane_of(self, name: str) -> FakePane:
        try:
            return self.panes_by_name[name]
        except KeyError:
            raise NotFound(f"no pane {name!r}") from None

    async def start(self, pane_died_command: str) -> None:
        self.started = True

    async def new_session(
        self, name: str, argv: Sequence[str], cwd: str, env: Mapping[str, str],
        width: int = 200, height: int = 50, window: str = "",
    ) -> Pane:
        self.panes_by_name[name] = FakePane()
        return await self.pane(name)

    async def rename_window(self, name: str, window: str) -> None:
        await self.pane(name)

    async def kill_session(self, name: str) -> None:
        self.panes_by_name.pop(name, None)

    async def has_session(self, name: str) -> bool:
        return name in self.panes_by_name

    async def panes(self) -> list[Pane]:
        return [await self.pane(name) for name in self.panes_by_name]

    async def pane(self, name: str) -> Pane:
        p = self.pane_of(name)
        return Pane(name, "%1", 1, p.dead, p.dead_status if p.dead else None, 0)

    async def capture(self, name: str, lines: int = 50, escapes: bool = False) -> str:
        return self.pane_of(name).screen

    async def send_keys(self, name: str, *keys: str) -> None:
        self.pane_of(name).sent.extend(("keys", k) for k in keys)

    async def send_text(self, name: str, text: str) -> None:
        self.pane_of(name).sent.append(("text", text))

    async def paste(self, name: str, text: str, buffer: str) -> None:
        """Like Claude Code: a paste shows as a placeholder in an empty composer."""
        pane = self.pane_of(name)
        pane.sent.append(("paste", text))
        pane.screen = pane.screen.replace("❯ \n", "❯ [Pasted text #1]\n")

    async def end_processes(self, pid: int, marker: str) -> int:
        return 0

    async def reap(self) -> None:
        pass

    async def kill_server(self) -> None:
        self.panes_by_name.clear()

    async def close(self) -> None:
        pass

    def output_at(self, name: str) -> float | None:
        return 0.0 if name in self.panes_by_name else None

    async def subscribe(self, name: str, screen: bool = True) -> Any:
        raise NotImplementedError("the fake runtime pushes no output")
