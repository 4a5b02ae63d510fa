"""The scripted agent's pane: raw mode, bracketed paste mode, and a live area (status,
composer or dialog) redrawn at the bottom below the scrolling log."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

PROMPT = "\u276f "  # the composer's prompt, Claude Code's glyph
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_COLLAPSE_CHARS, _COLLAPSE_LINES = 1000, 10


def render_composer(text: str) -> list[str]:
    """Screen lines for the composer; big or long text collapses to one summary line."""
    lines = text.split("\n")
    if len(text) > _COLLAPSE_CHARS or len(lines) > _COLLAPSE_LINES:
        return [f"{PROMPT}[Pasted text +{len(lines)} lines, {len(text)} chars] {lines[-1][-40:]}"]
    return [PROMPT + lines[0]] + [f"  {line}" for line in lines[1:]]


def summary(text: str) -> str:
    """A prompt or command for the log: its first line (200 chars) and the line count."""
    lines = text.split("\n")
    more = f" … +{len(lines) - 1} lines" if len(lines) > 1 else ""
    return lines[0][:200] + more


def _visible(line: str) -> str:
    line = line.replace("\t", "    ")
    return _UNPRINTABLE.sub(lambda m: "^" + chr((ord(m.group()) + 64) % 128), line)


def _columns(line: str) -> int:
    if line.isascii():
        return len(line)
    width = unicodedata.east_asian_width
    return sum(0 if unicodedata.combining(c) else 2 if width(c) in "WF" else 1 for c in line)


class Terminal:
    """The pane: raw mode, bracketed paste, and a live area (status, composer or dialog)
    redrawn at the bottom below the scrolling log."""

    def __init__(self, in_fd: int, out_fd: int) -> None:
        self.in_fd, self._out = in_fd, out_fd
        self._saved: list[Any] | None = None
        self._live: list[str] = []
        self._rows = 0

    def enter(self) -> None:
        """Raw mode now (TCSANOW keeps bytes already typed); no-op when not a tty."""
        import termios
        import tty

        try:
            self._saved = termios.tcgetattr(self.in_fd)
            tty.setraw(self.in_fd, termios.TCSANOW)
        except termios.error:
            return
        self.write("\x1b[?2004h")

    def restore(self) -> None:
        if self._saved is not None:
            import termios

            self.write("\x1b[?2004l\r\n")
            termios.tcsetattr(self.in_fd, termios.TCSANOW, self._saved)
            self._saved = None

    def write(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        try:
            while data:
                data = data[os.write(self._out, data) :]
        except OSError:
            pass  # the pane is gone; hooks and the transcript still matter

    def show(self, log: Sequence[str], live: list[str]) -> None:
        """Print ``log`` lines above the live area and redraw it as ``live``."""
        old = self._live
        self._live = [_visible(line) for line in live]
        grown = self._live[-1][len(old[-1]) :] if old and self._live else ""
        if (
            not log
            and len(old) == len(self._live)
            and old[:-1] == self._live[:-1]
            and self._live[-1].startswith(old[-1])
        ):
            self._rows = self._count_rows(self._live)
            self.write(grown)  # typing: echo only what was added
            return
        up = f"\x1b[{self._rows - 1}A" if self._rows > 1 else ""
        lines = [_visible(part) for line in log for part in line.split("\n")]
        self._rows = self._count_rows(self._live)
        self.write(
            f"\r{up}\x1b[J" + "".join(f"{line}\r\n" for line in lines) + "\r\n".join(self._live)
        )

    def _count_rows(self, lines: list[str]) -> int:
        try:
            width = max(1, os.get_terminal_size(self._out).columns)
        except OSError:
            width = 80
        return sum(max(1, -(-_columns(line) // width)) for line in lines)
