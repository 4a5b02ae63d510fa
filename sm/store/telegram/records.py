"""The Telegram bridge's records."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ThreadRecord:
    """Where a session's messages go: a forum topic, or reply threads under a root
    message in a chat without topics. ``thread_id`` is None while only intended."""

    session_id: str
    chat_id: int
    kind: str  # topic | reply
    thread_id: int | None
    name: str
    closed: bool
    attempts: int


@dataclass(frozen=True)
class OutboxItem:
    """One thing to do in Telegram, in order. ``op``: send | edit | alert | rename |
    close | reopen. A send goes into ``session_id``'s thread, or to ``chat_id`` (and
    ``thread_id``). ``text`` is the plain fallback of ``html``."""

    op: str
    text: str = ""
    html: str | None = None
    session_id: str | None = None
    chat_id: int | None = None
    thread_id: int | None = None
    reply_to: int | None = None
    markup: list[list[tuple[str, str]]] | None = None
    silent: bool = False
    ref: str | None = None  # approval:ID | ask:ID | covered
    dedupe_key: str | None = None
    id: int = 0
    state: str = "pending"  # pending | sending (the call was made; its answer not stored)
    attempts: int = 0
    created_at: float = 0.0


@dataclass(frozen=True)
class ApprovalRecord:
    id: int
    session_id: str
    hook_seq: int
    tool: str
    state: str  # pending | allowed | always | denied | expired | gone
    deadline: float
    chat_id: int | None
    message_id: int | None
    answered_by: str | None
    created_at: float
