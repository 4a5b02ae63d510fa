"""The scripted agent's keyboard: tty bytes to keys, as Claude Code reads them — text,
Enter, Backspace, Ctrl keys, Escape (after ESCAPE_TIMEOUT) and bracketed pastes, however
the bytes are split across reads."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Literal

ESCAPE_TIMEOUT = 0.05  # a lone ESC not followed by "[" within this is the Escape key
_PASTE_START, _PASTE_END = "\x1b[200~", "\x1b[201~"
_CONTROLS = {
    "\r": "enter",
    "\x7f": "backspace",
    "\x08": "backspace",
    "\x15": "clear",
    "\x03": "interrupt",
    "\x04": "eof",
}
_TEXT = re.compile(r"[^\x00-\x08\x0b-\x1f\x7f]+")  # printable runs; \t and \n are text


KeyKind = Literal[
    "text", "paste", "enter", "backspace", "clear", "interrupt", "eof", "escape", "sequence"
]


@dataclass(frozen=True)
class Key:
    kind: KeyKind
    text: str = ""


class KeyParser:
    """Turns tty bytes into keys. Pure: ``feed`` bytes as read, and call ``flush`` when
    ``pending_escape`` and nothing arrived within ESCAPE_TIMEOUT."""

    def __init__(self) -> None:
        self._decode = codecs.getincrementaldecoder("utf-8")("replace").decode
        self._buf = ""  # input not yet decided: a lone ESC, a partial sequence or paste end
        self._paste: list[str] | None = None

    @property
    def pending_escape(self) -> bool:
        return self._paste is None and self._buf.startswith("\x1b")

    def feed(self, data: bytes) -> list[Key]:
        self._buf += self._decode(data)
        return self._parse(final=False)

    def flush(self) -> list[Key]:
        return self._parse(final=True)

    def _parse(self, final: bool) -> list[Key]:
        s, i, keys = self._buf, 0, []
        while i < len(s):
            if self._paste is not None:
                end = s.find(_PASTE_END, i)
                if end < 0:
                    keep = _partial_suffix(s, i, _PASTE_END)
                    self._paste.append(s[i : len(s) - keep])
                    i = len(s) - keep
                    break
                self._paste.append(s[i:end])
                text = "".join(self._paste).replace("\r\n", "\n").replace("\r", "\n")
                keys.append(Key("paste", text))
                self._paste, i = None, end + len(_PASTE_END)
            elif s[i] == "\x1b":
                if i + 1 == len(s):
                    if final:
                        keys.append(Key("escape"))
                        i += 1
                    break
                if s[i + 1] != "[":
                    keys.append(Key("escape"))
                    i += 1
                    continue
                j = i + 2
                while j < len(s) and "\x20" <= s[j] <= "\x3f":
                    j += 1
                if j == len(s):
                    i = len(s) if final else i  # an unfinished sequence is dropped on timeout
                    break
                if not "\x40" <= s[j] <= "\x7e":
                    i = j  # malformed: drop what came so far, go on from here
                    continue
                sequence, i = s[i : j + 1], j + 1
                if sequence == _PASTE_START:
                    self._paste = []
                elif sequence != _PASTE_END:
                    keys.append(Key("sequence", sequence))
            elif (kind := _CONTROLS.get(s[i])) is not None:
                keys.append(Key(kind))  # type: ignore[arg-type]
                i += 1
            elif (match := _TEXT.match(s, i)) is not None:
                keys.append(Key("text", match.group()))
                i = match.end()
            else:
                i += 1  # other control characters are ignored
        self._buf = s[i:]
        return keys


def _partial_suffix(s: str, start: int, marker: str) -> int:
    """Length of the longest tail of ``s[start:]`` that could begin ``marker``."""
    for k in range(min(len(marker) - 1, len(s) - start), 0, -1):
        if s.endswith(marker[:k]):
            return k
    return 0
