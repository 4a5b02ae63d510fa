"""Who is calling: the operator, or a session whose identity the daemon proved.

Every operation takes a ``Caller``. It is built once per request at the adapter
(the HTTP dependency, Telegram, MCP) and never from a claim alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sm.errors import InvalidInput

if TYPE_CHECKING:
    from sm.store.sessions import SessionRecord


@dataclass(frozen=True)
class Caller:
    """``session`` is None for the operator (a human, Telegram, the web, sm itself)."""

    session: SessionRecord | None = None
    # how the operator reached sm ("cli", "telegram", "web", "sm"): shown as the sender
    via: str = "cli"

    @classmethod
    def operator(cls, via: str = "cli") -> Caller:
        return cls(None, via)

    @classmethod
    def of(cls, session: SessionRecord) -> Caller:
        return cls(session, "session")

    @property
    def is_operator(self) -> bool:
        return self.session is None

    @property
    def id(self) -> str | None:
        """The session id, or None for the operator."""
        return self.session.id if self.session is not None else None

    @property
    def label(self) -> str:
        return self.session.label if self.session is not None else "operator"

    def require_session(self, what: str) -> SessionRecord:
        """The calling session. Raises InvalidInput naming ``what`` for the operator."""
        if self.session is None:
            raise InvalidInput(f"{what}: run it from an agent (no session identity here)")
        return self.session


OPERATOR = Caller.operator()
