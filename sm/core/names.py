"""Session names: 1–32 of ``[A-Za-z0-9_-]``, unique among live sessions."""

from __future__ import annotations

import re

from sm.errors import InvalidInput

_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
RESERVED = frozenset({"human", "operator", "all", "sm"})


def check_name(name: str) -> str:
    """Return ``name`` when valid; raise InvalidInput naming the rule otherwise."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid session name {name!r}: use 1-32 characters from A-Z a-z 0-9 _ -"
        )
    if name.lower() in RESERVED:
        raise InvalidInput(f"invalid session name {name!r}: it is reserved")
    return name
