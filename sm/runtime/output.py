"""Pushed pane output: each pane's bytes as tmux writes them, handed to subscribers with
a sequence number, and kept as a virtual screen (pyte) once a view asked for one: until
then the bytes only pass through (no emulator, no buffer: an idle session costs a few
hundred bytes here), and the first snapshot is redrawn from tmux.

pyte models the characters, colours, bold, reverse and the cursor, not *faint*: screen
checks that must tell a faint placeholder from typed text read ``capture-pane -e``
instead (one control-connection round trip, no fork).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

QUEUE_CHUNKS = 1024  # a subscriber further behind than this is dropped, never waited for
PENDING_BYTES = 32 * 1024  # bytes kept for the virtual screen until someone reads it


@dataclass(frozen=True)
class Chunk:
    """Bytes the pane wrote; ``seq`` counts chunks from 1 per pane and has no gaps."""

    seq: int
    data: bytes


@dataclass(frozen=True)
class Snapshot:
    """The pane's screen after chunk ``seq``: ``lines`` of ``width`` cells (plain text,
    trailing blanks kept), the cursor as (x, y) from the top left, 0-based."""

    seq: int
    width: int
    height: int
    lines: list[str]
    cursor: tuple[int, int]


class Subscription:
    """A live view of one pane: ``snapshot`` to draw first (None when only the chunks
    were asked for), then every chunk after it (``async for chunk in sub``). Iteration
    ends when the pane goes away, when the subscriber fell more than QUEUE_CHUNKS behind
    (``lagged``: subscribe again for a new snapshot), or after ``close()``."""

    def __init__(self, snapshot: Snapshot | None,
                 on_close: Callable[[Subscription], None]) -> None:
        self.snapshot = snapshot
        self.lagged = False
        self._queue: asyncio.Queue[Chunk | None] = asyncio.Queue(QUEUE_CHUNKS)
        self._on_close = on_close
        self._ended = False

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Chunk]:
        while True:
            chunk = await self._queue.get()
            if chunk is None:
                return
            yield chunk

    def close(self) -> None:
        """Stop receiving (idempotent)."""
        self._end()
        self._on_close(self)

    def _put(self, chunk: Chunk) -> None:
        if self._ended:
            return
        if self._queue.qsize() >= QUEUE_CHUNKS - 1:
            self.lagged = True
            self.close()
            return
        self._queue.put_nowait(chunk)

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(None)


class PaneOutput:
    """One pane's stream. ``current`` is False while bytes may have been missed (the
    pane existed before the connection, tmux paused it, more than PENDING_BYTES came
    while nobody read the screen, or no screen was kept yet): ``redraw`` fixes that. The
    emulator runs only when the screen is read: bytes wait in a bounded buffer until
    then."""

    def __init__(self, pane_id: str, width: int, height: int, *, current: bool,
                 clock: Callable[[], float] = time.time) -> None:
        self.pane_id = pane_id
        self.seq = 0
        self.current = current
        self.clock = clock
        self.output_at: float | None = None
        self.known_at = clock()
        self._size = (width, height)
        self._screen: Any = None  # a pyte.Screen from the first snapshot on
        self._stream: Any = None
        self._subscribers: list[Subscription] = []
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    def feed(self, data: bytes) -> None:
        """Bytes the pane wrote: kept for the screen, handed to every subscriber."""
        self.seq += 1
        self.output_at = self.clock()
        if self._screen is None:
            self.current = False  # no screen kept: the first snapshot is redrawn
        else:
            self._pending.append(data)
            self._pending_bytes += len(data)
            if self._pending_bytes > PENDING_BYTES:
                self._drop_pending()
                self.current = False
        if self._subscribers:
            chunk = Chunk(self.seq, data)
            for sub in list(self._subscribers):
                sub._put(chunk)

    def redraw(self, lines: list[str], cursor: tuple[int, int], size: tuple[int, int]) -> None:
        """Make the screen what tmux says it is (``capture-pane -e`` lines): fed as one
        chunk that clears and redraws, so subscribers apply the same repair."""
        width, height = size
        self._drop_pending()  # what tmux shows now supersedes them
        if self._screen is None:
            self._keep_screen(width, height)
        elif (width, height) != (self._screen.columns, self._screen.lines):
            self._screen.resize(height, width)
        body = "\r\n".join(lines[:height])
        x, y = cursor
        data = f"\x1b[0m\x1b[H\x1b[2J{body}\x1b[0m\x1b[{y + 1};{x + 1}H".encode()
        output_at = self.output_at
        self.feed(data)
        self.output_at = output_at  # a repair is not activity
        self.current = True

    @property
    def size(self) -> tuple[int, int]:
        if self._screen is None:
            return self._size
        return self._screen.columns, self._screen.lines

    @property
    def keeps_screen(self) -> bool:
        """Whether a virtual screen is kept (a view asked for one)."""
        return self._screen is not None

    def resized(self, width: int, height: int) -> bool:
        """The pane is ``width`` × ``height`` now. True when a screen is kept: it must be
        redrawn at that size."""
        self._size = (width, height)
        return self._screen is not None

    def snapshot(self) -> Snapshot:
        """The screen after chunk ``seq`` (runs the emulator over the waiting bytes;
        the first one starts keeping a screen)."""
        if self._screen is None:
            self._keep_screen(*self._size)
        if self._pending:
            data = b"".join(self._pending)
            self._drop_pending()
            self._stream.feed(data)
        screen = self._screen
        return Snapshot(self.seq, screen.columns, screen.lines, list(screen.display),
                        (screen.cursor.x, screen.cursor.y))

    def subscribe(self, screen: bool = True) -> Subscription:
        """Every chunk from now on; ``screen``: with a snapshot to start from."""
        sub = Subscription(self.snapshot() if screen else None, self._unsubscribe)
        self._subscribers.append(sub)
        return sub

    def _keep_screen(self, width: int, height: int) -> None:
        import pyte  # only once a view asks for a screen

        self._screen = pyte.Screen(width, height)
        self._stream = pyte.ByteStream(self._screen)

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)

    def _drop_pending(self) -> None:
        self._pending.clear()
        self._pending_bytes = 0

    def end(self) -> None:
        """The pane is gone: end every subscription."""
        for sub in self._subscribers:
            sub._end()
        self._subscribers.clear()
