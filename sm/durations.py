"""Durations as people type them (``90``, ``30s``, ``5m``, ``1h30m``, ``2d``) and as sm
prints them. Stdlib only: the CLI, core and the operations all read them the same way."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d*)?)\s*([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_SECONDS = 366 * 86400.0


def parse_duration(text: str, what: str = "duration") -> float:
    """Seconds in ``text`` (more than 0, at most a year). Raises InvalidInput naming
    ``what`` and the bad value."""
    from sm.errors import InvalidInput

    spec = text.strip().lower()
    pos, total = 0, 0.0
    while pos < len(spec) and (match := _PART.match(spec, pos)) is not None:
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not spec or pos != len(spec):
        raise InvalidInput(f"invalid {what} {text[:40]!r}: expected e.g. 30s, 5m, 1h or 1h30m")
    if total <= 0:
        raise InvalidInput(f"invalid {what} {text[:40]!r}: it must be more than 0 seconds")
    if total > MAX_SECONDS:  # inf too: a thousand digits parse to it
        raise InvalidInput(f"invalid {what} {text[:40]!r}: at most {MAX_SECONDS / 86400:g} days")
    return total


def format_duration(seconds: float) -> str:
    """``90`` → ``1m30s``; whole units only."""
    secs, out = int(round(seconds)), ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            out += f"{secs // size}{unit}"
            secs %= size
    return out + (f"{secs}s" if secs or not out else "")
