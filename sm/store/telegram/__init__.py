"""The Telegram bridge's rows, one class per table: threads and what our messages
belong to, the outbox and receipts owed, small durable values, approvals.

Writes take the caller's connection (inside ``Store.write()``) so a fact and what it
causes commit together; reads use the shared connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sm.store.telegram.approvals import Approvals
from sm.store.telegram.outbox import Inbound, Outbox
from sm.store.telegram.records import ApprovalRecord, OutboxItem, ThreadRecord
from sm.store.telegram.state import State
from sm.store.telegram.threads import Sent, Threads

if TYPE_CHECKING:
    from sm.store.db import Store


class TelegramRows:
    """The bridge's tables, each its own class."""

    def __init__(self, store: Store) -> None:
        self.threads = Threads(store)
        self.sent = Sent(store)
        self.outbox = Outbox(store)
        self.inbound = Inbound(store)
        self.state = State(store)
        self.approvals = Approvals(store)


__all__ = ["ApprovalRecord", "OutboxItem", "TelegramRows", "ThreadRecord"]
