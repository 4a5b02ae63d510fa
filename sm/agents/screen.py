"""Reading a pane's screen as ``capture-pane -e`` gives it: text plus SGR escapes.

The escapes matter for one thing plain text cannot tell: an empty composer shows a
faint placeholder ("Ask Codex to do anything", "Press up to edit queued messages")
that reads exactly like typed text without its attributes. Plain text (no escapes)
parses too; it then simply carries no styles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ESCAPE = re.compile(
    r"\x1b\[([0-9;:?<=>]*)([@-~])"  # CSI: SGR (m) and the rest
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC
    r"|\x1b[()][0-9A-Za-z]|\x1b[=>78]"
)
_PLAIN, _FAINT, _CURSOR = " ", "f", "c"


@dataclass(frozen=True)
class StyledLine:
    """One screen line: its text and, per character, ``f`` (faint), ``c`` (reverse
    video: the cursor cell) or a space (plain)."""

    text: str
    styles: str

    def is_placeholder(self, start: int = 0) -> bool:
        """Whether the visible characters from ``start`` on are a faint placeholder: at
        least one faint character, and none plain (the cursor cell may sit on it)."""
        seen_faint = False
        for char, style in zip(self.text[start:], self.styles[start:], strict=True):
            if char.isspace():
                continue
            if style == _PLAIN:
                return False
            seen_faint = seen_faint or style == _FAINT
        return seen_faint


def parse(screen: str) -> list[StyledLine]:
    """Split a captured screen into styled lines (styles carry across lines, as
    ``capture-pane -e`` leaves them)."""
    faint = reverse = False
    out = []
    for raw in screen.split("\n"):
        text: list[str] = []
        styles: list[str] = []
        pos = 0
        for match in _ESCAPE.finditer(raw):
            chunk = raw[pos:match.start()]
            style = _CURSOR if reverse else _FAINT if faint else _PLAIN
            text.append(chunk)
            styles.append(style * len(chunk))
            pos = match.end()
            if match.group(2) == "m":
                faint, reverse = _apply_sgr(match.group(1) or "", faint, reverse)
        chunk = raw[pos:]
        text.append(chunk)
        styles.append((_CURSOR if reverse else _FAINT if faint else _PLAIN) * len(chunk))
        out.append(StyledLine("".join(text), "".join(styles)))
    return out


def plain(screen: str) -> str:
    """The screen's text without escapes."""
    return _ESCAPE.sub("", screen)


def _apply_sgr(params: str, faint: bool, reverse: bool) -> tuple[bool, bool]:
    codes = [p.split(":")[0] for p in params.split(";")] if params else ["0"]
    i = 0
    while i < len(codes):
        code = int(codes[i]) if codes[i].isdigit() else 0
        if code == 0:
            faint = reverse = False
        elif code == 2:
            faint = True
        elif code == 22:
            faint = False
        elif code == 7:
            reverse = True
        elif code == 27:
            reverse = False
        elif code in (38, 48, 58) and i + 1 < len(codes):
            i += 2 if codes[i + 1] == "5" else 4 if codes[i + 1] == "2" else 0
        i += 1
    return faint, reverse
