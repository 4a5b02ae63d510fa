"""Message rows: the durable queue between agents."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiosqlite

from sm.store.table import Table, like_prefix, placeholders
from sm.vocab import DeliveryMode, MessageKind, MessageState

if TYPE_CHECKING:
    from sm.store.db import Store

# The WHERE of the partial indexes, word for word: SQLite uses a partial index only when
# the query repeats its terms as literals (bound parameters never match them).
OPEN_WHERE = "state IN ('queued', 'delivering')"  # messages_open
EXPIRING_WHERE = "expires_at IS NOT NULL AND state = 'queued'"  # messages_expiring
_COLUMNS = (
    "id", "sender_id", "sender_label", "target_id", "mode", "body", "state", "reason",
    "attempts", "notify_on_stop", "receipt_seq", "receipt_conv", "receipt_busy", "notified",
    "created_at", "updated_at", "delivered_at", "kind", "rank", "expires_at",
)
_UPDATABLE = (
    "state", "reason", "attempts", "receipt_seq", "receipt_conv", "receipt_busy", "notified",
    "updated_at", "delivered_at",
)


@dataclass(frozen=True)
class MessageRecord:
    id: str
    sender_id: str | None
    sender_label: str
    target_id: str
    mode: DeliveryMode
    body: str
    state: MessageState
    reason: str | None
    attempts: int
    notify_on_stop: bool
    receipt_seq: int | None
    receipt_conv: str | None
    receipt_busy: bool
    notified: bool
    created_at: float
    updated_at: float
    delivered_at: float | None
    kind: MessageKind = MessageKind.TEXT
    expires_at: float | None = None

    def __post_init__(self) -> None:
        for name, enum in (("mode", DeliveryMode), ("state", MessageState),
                           ("kind", MessageKind)):
            value = getattr(self, name)
            if not isinstance(value, enum):
                object.__setattr__(self, name, enum(value))

    @property
    def rank(self) -> int:
        return self.mode.rank

    @property
    def is_open(self) -> bool:
        return self.state.is_open


def _load(**values: Any) -> MessageRecord:
    values.pop("rank")
    return MessageRecord(**values)


class Messages:
    def __init__(self, store: Store) -> None:
        self._rows = Table(store, "messages", _COLUMNS, _load, updatable=_UPDATABLE,
                           bool_columns=("notify_on_stop", "receipt_busy", "notified"))

    async def insert(self, conn: aiosqlite.Connection, m: MessageRecord) -> None:
        await self._rows.insert(conn, m)

    async def insert_many(self, conn: aiosqlite.Connection,
                          msgs: builtins.list[MessageRecord]) -> None:
        """Insert several rows in one statement (one round trip to the database thread)."""
        await self._rows.insert_many(conn, msgs)

    async def update(
        self, conn: aiosqlite.Connection, message_id: str, now: float, **fields: Any
    ) -> int:
        return await self._rows.update(conn, "id = ?", (message_id,), **fields, updated_at=now)

    async def move(
        self, conn: aiosqlite.Connection, message_id: str, now: float,
        from_states: tuple[MessageState, ...], **fields: Any,
    ) -> bool:
        """Update only while the message is in one of ``from_states`` (a compare and
        set: two facts racing for one message cannot both move it)."""
        where = f"id = ? AND state IN ({placeholders(from_states)})"
        changed = await self._rows.update(conn, where, (message_id, *from_states),
                                          **fields, updated_at=now)
        return changed > 0

    async def get(self, message_id: str) -> MessageRecord | None:
        return await self._rows.one("id = ?", (message_id,))

    async def find(self, ref: str) -> builtins.list[MessageRecord]:
        """Messages whose id is ``ref`` or starts with it (at most two: enough to tell
        a unique prefix from an ambiguous one)."""
        exact = await self.get(ref)
        if exact is not None:
            return [exact]
        return await self._rows.select("id LIKE ? ESCAPE '\\'", (like_prefix(ref),), limit=2)

    async def next_for(self, target_id: str) -> MessageRecord | None:
        """The message to work on next for a target: one in ``delivering`` first, else
        the first queued in delivery order (urgent, important, sequential; oldest first
        within each). One indexed lookup, whatever the backlog."""
        typing = await self.delivering(target_id)
        if typing is not None:
            return typing
        return await self._rows.one(f"target_id = ? AND {OPEN_WHERE} AND state = ?",
                                    (target_id, MessageState.QUEUED),
                                    order="rank, created_at, rowid")

    async def open_for(self, target_id: str, limit: int = 10000) -> builtins.list[MessageRecord]:
        """Undelivered messages to a target, in delivery order."""
        return await self._rows.select(
            f"target_id = ? AND {OPEN_WHERE}", (target_id,),
            order="rank, created_at, rowid", limit=limit,
        )

    async def has_open(self, target_id: str) -> bool:
        return await self.next_for(target_id) is not None

    async def open_count(self, target_id: str) -> int:
        return int(await self._rows.scalar(
            f"SELECT count(*) FROM messages WHERE target_id = ? AND {OPEN_WHERE}",
            (target_id,)) or 0)

    async def open_counts(self) -> dict[str, int]:
        """Queue depth per target, for every target with an open message."""
        rows = await self._rows.query(
            f"SELECT target_id, count(*) FROM messages WHERE {OPEN_WHERE} GROUP BY target_id")
        return {r[0]: int(r[1]) for r in rows}

    async def delivering(self, target_id: str) -> MessageRecord | None:
        """The message being typed into ``target_id`` right now, if any."""
        return await self._rows.one("target_id = ? AND state = ?",
                                    (target_id, MessageState.DELIVERING))

    async def latest(self, target_id: str, kind: MessageKind) -> MessageRecord | None:
        """The newest message of ``kind`` to a target."""
        return await self._rows.one("target_id = ? AND kind = ?", (target_id, kind),
                                    order="rowid DESC")

    async def targets_with_open(self) -> builtins.list[str]:
        rows = await self._rows.query(
            f"SELECT DISTINCT target_id FROM messages WHERE {OPEN_WHERE}")
        return [r[0] for r in rows]

    async def expiring(self, now: float) -> builtins.list[MessageRecord]:
        """Queued messages whose deadline has passed."""
        return await self._rows.select(f"{EXPIRING_WHERE} AND expires_at <= ?", (now,))

    async def received_between(self, target_id: str, after_seq: int, before_seq: int
                               ) -> builtins.list[MessageRecord]:
        """Text messages to a target whose receipt lies between two event seqs."""
        return await self._rows.select(
            "target_id = ? AND state = ? AND kind = ? AND receipt_seq > ? AND receipt_seq < ?",
            (target_id, MessageState.DELIVERED, MessageKind.TEXT, after_seq, before_seq),
            order="receipt_seq")

    async def awaiting_stop(self, target_id: str) -> builtins.list[MessageRecord]:
        """Delivered messages whose sender asked to hear when their turn ends."""
        return await self._rows.select(
            "target_id = ? AND state = ? AND notify_on_stop = 1 AND notified = 0",
            (target_id, MessageState.DELIVERED),
        )

    async def list(
        self,
        *,
        target_id: str | None = None,
        sender_id: str | None = None,
        states: tuple[MessageState, ...] = (),
        visible_to: builtins.list[str] | None = None,
        limit: int = 100,
        newest: bool = False,
    ) -> builtins.list[MessageRecord]:
        """Messages oldest first; ``newest``: the last ``limit`` of them (still oldest
        first). ``visible_to``: only those sent by or to one of these sessions."""
        where: builtins.list[str] = ["1 = 1"]
        args: builtins.list[Any] = []
        if target_id:
            where.append("target_id = ?")
            args.append(target_id)
        if sender_id:
            where.append("sender_id = ?")
            args.append(sender_id)
        if states:
            where.append(f"state IN ({placeholders(states)})")
            args.extend(states)
        if visible_to is not None:
            marks = placeholders(visible_to) or "NULL"
            where.append(f"(target_id IN ({marks}) OR sender_id IN ({marks}))")
            args.extend([*visible_to, *visible_to])
        rows = await self._rows.select(" AND ".join(where), args,
                                       order="rowid DESC" if newest else "rowid", limit=limit)
        return rows[::-1] if newest else rows

    async def sent_since(self, sender_id: str, target_id: str | None, since: float) -> bool:
        """Whether ``sender_id`` sent anything to ``target_id`` (any target if None)."""
        where = "sender_id = ? AND created_at >= ?"
        args: tuple[Any, ...] = (sender_id, since)
        if target_id:
            where += " AND target_id = ?"
            args += (target_id,)
        return await self._rows.one(where, args) is not None
