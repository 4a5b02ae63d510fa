"""The outbox: every message the bridge sends goes through one durable, ordered queue.

Producers (the mirror, command handlers, approvals) only write rows; one task sends
them, in order, from its own loop, so Telegram being slow or down never slows anyone
else. A 429 pauses the queue for ``retry_after``; network trouble backs off (up to
30 s); nothing is dropped silently — a row Telegram refuses is marked ``failed`` with
the reason and logged. When the queue is behind, consecutive plain texts for the same
thread are merged into one message (under 4096 characters), so a burst arrives in
order, later, in fewer messages.

Exactly once: a send is marked ``sending`` before the call and ``sent`` (with the
message id) after it. One whose answer was lost — the daemon died mid-call, or the
call timed out — is looked for before it is sent again (see ``_landed``).

Threads: a session's forum topic (or, in a chat without topics, a root message its
messages reply to) is created on first use. The intent is committed before the
creating call; the thread id after it. A restart resumes from the row, so a crash
loop cannot create a topic per start — only a call that was in flight when the
daemon died is ambiguous (the Bot API cannot list topics), and that is retried at
most once more.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from sm.store import Store
from sm.store.telegram import OutboxItem, TelegramRows, ThreadRecord
from sm.telegram import format as fmt
from sm.telegram.api import Api, Keyboard, Rejected, Retry

log = logging.getLogger("sm.telegram")

_MERGE_LIMIT = 3900
_AMBIGUOUS_CREATES = 2  # creating calls whose outcome a crash hid; then give up on a thread


@dataclass(frozen=True)
class _Target:
    chat_id: int
    thread_id: int | None = None
    reply_to: int | None = None
    prefix: str = ""  # a session without a thread: its messages name it


class Outbox:
    def __init__(
        self, store: Store, rows: TelegramRows, chat_id: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.rows = rows
        self.chat_id = chat_id
        self.clock = clock
        self.api: Api | None = None  # set once Telegram answered
        self.forum = False
        self.ready = asyncio.Event()
        self._wake = asyncio.Event()

    async def put(self, *items: OutboxItem) -> None:
        """Queue ``items`` in one transaction and wake the sender."""
        async with self.store.write() as conn:
            for item in items:
                await self.rows.outbox.enqueue(conn, item, self.clock())
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def connected(self, api: Api, forum: bool) -> None:
        self.api, self.forum = api, forum
        self.ready.set()
        self.wake()

    async def run(self) -> None:
        backoff = 1.0
        while True:
            await self.ready.wait()
            batch = await self.rows.outbox.pending(limit=200)
            if not batch:
                self._wake.clear()
                await self._wake.wait()
                continue
            group = _merge(batch)
            try:
                await self._perform(group)
                backoff = 1.0
            except Retry as exc:
                pause = exc.after if exc.limited else max(exc.after, backoff)
                log.warning("telegram: %s; %d queued, retrying in %.1fs", exc.message,
                            len(batch), pause)
                backoff = min(backoff * 2, 30.0)
                await asyncio.sleep(pause)
            except Rejected as exc:
                log.warning("telegram refused outbox item %d (%s): %s", group[0].id,
                            group[0].op, exc.message)
                async with self.store.write() as conn:
                    await self.rows.outbox.finish(conn, [i.id for i in group], "failed",
                                                  self.clock(), reason=exc.message)

    # -- one step -------------------------------------------------------------------
    async def _perform(self, group: list[OutboxItem]) -> None:
        item = group[0]
        assert self.api is not None
        ids = [i.id for i in group]
        if item.op in ("rename", "close", "reopen"):
            await self._topic_op(item)
            await self._finish(ids, None, item)
            return
        if item.op == "edit":
            where = await self.rows.approvals.message_of(item.ref or "")
            if where is not None:
                try:
                    await self.api.edit(where[0], where[1], item.text, html=item.html,
                                        markup=item.markup)
                except Rejected as exc:
                    if exc.kind != "gone":
                        raise
            await self._finish(ids, None, item)
            return
        if item.op == "alert" and item.ref == "covered" and not self.forum:
            await self._finish(ids, None, item)  # one chat: the thread message says it
            return
        target = await self._target(item)
        if item.state == "sending":
            landed = await self._landed(target.chat_id, item.markup)
            if landed is not None:
                await self._finish(ids, landed, item, target.chat_id)
                return
        else:
            await self._mark(ids, "sending")
        text, html = _joined(group, target.prefix)
        try:
            mid = await self.api.send(
                target.chat_id, text, html=html, thread_id=target.thread_id,
                reply_to=item.reply_to or target.reply_to, markup=item.markup,
                silent=item.silent and self.forum,
            )
        except Retry as exc:
            if not exc.maybe_sent:
                await self._mark(ids, "pending")
            raise
        except Rejected as exc:
            if exc.kind != "thread_missing" or item.session_id is None:
                raise
            await self._mark(ids, "pending")
            await self._forget_thread(item.session_id)
            raise Retry(f"{exc.message}; recreating the thread", after=0.0) from exc
        await self._finish(ids, mid, item, target.chat_id)

    async def _mark(self, ids: list[int], state: str) -> None:
        async with self.store.write() as conn:
            await self.rows.outbox.mark(conn, ids, state)

    async def _landed(self, chat_id: int, markup: Keyboard | None) -> int | None:
        """A send whose answer was lost (the daemon died, or the call timed out): find
        the message if it landed. Our sends go one at a time, so an unknown message of
        this bot after the last one we know of is the lost one. Probes at most 50 ids,
        stopping after 5 that do not exist (the end of the chat)."""
        assert self.api is not None
        known, missing = await self.rows.sent.last(chat_id), 0
        for mid in range(known + 1, known + 51):
            ours = await self.api.is_ours(chat_id, mid, markup)
            if ours:
                log.info("telegram: message %d had landed before the restart", mid)
                return mid
            missing = missing + 1 if ours is None else 0
            if missing >= 5:
                break
        return None

    async def _finish(
        self, ids: list[int], message_id: int | None, item: OutboxItem, chat_id: int = 0
    ) -> None:
        async with self.store.write() as conn:
            await self.rows.outbox.finish(conn, ids, "sent", self.clock(), message_id=message_id)
            if message_id is not None:
                await self.rows.sent.remember(conn, chat_id, message_id, item.session_id)
                if item.ref and item.ref != "covered":
                    await self.rows.approvals.set_message(conn, item.ref, chat_id, message_id)

    async def _target(self, item: OutboxItem) -> _Target:
        if item.session_id is None or item.op == "alert":
            return _Target(item.chat_id or self.chat_id, item.thread_id)
        thread = await self.thread(item.session_id)
        if thread is None or thread.thread_id is None:
            rec = await self.store.sessions.get(item.session_id)
            return _Target(self.chat_id, prefix=f"[{rec.label if rec else item.session_id}] ")
        if thread.kind == "topic":
            return _Target(thread.chat_id, thread.thread_id)
        return _Target(thread.chat_id, reply_to=thread.thread_id)

    # -- threads --------------------------------------------------------------------
    async def thread(self, session_id: str) -> ThreadRecord | None:
        """The session's thread, created when it has none (idempotently: see above).
        None when creating was given up. Raises Retry while Telegram cannot be reached."""
        assert self.api is not None
        kind = "topic" if self.forum else "reply"
        found = await self.rows.threads.get(session_id)
        if found and found.thread_id is not None and (found.chat_id, found.kind) == (
                self.chat_id, kind):
            return found
        if found and found.thread_id is None and found.attempts >= _AMBIGUOUS_CREATES:
            return None
        if found and found.thread_id is None and found.attempts:
            log.warning("telegram: creating %s's thread was in flight when the daemon "
                        "stopped; creating it again (one orphan thread is possible)", session_id)
        rec = await self.store.sessions.get(session_id)
        if rec is None:
            return None
        name = rec.label[:128]
        async with self.store.write() as conn:
            await self.rows.threads.intend(conn, session_id, self.chat_id, kind, name, self.clock())
        try:
            if kind == "topic":
                thread_id = await self.api.create_topic(self.chat_id, name)
            else:
                plain, html = fmt.root(rec.label, rec.id, rec.provider)
                thread_id = await self.api.send(self.chat_id, plain, html=html)
        except (Retry, Rejected) as exc:
            if not getattr(exc, "maybe_sent", False):
                async with self.store.write() as conn:  # surely not created: not an attempt
                    await self.rows.threads.forget_attempt(conn, session_id)
            raise
        closed = kind == "topic" and not rec.is_live
        async with self.store.write() as conn:
            await self.rows.threads.update(conn, session_id, self.clock(), thread_id=thread_id,
                                          name=name, attempts=0, closed=int(closed))
            await self.rows.sent.remember(conn, self.chat_id, thread_id, session_id)
        if closed:
            await self.api.topic("close", self.chat_id, thread_id)
        log.info("telegram: %s for %s is %d", kind, rec.label, thread_id)
        return await self.rows.threads.get(session_id)

    async def _forget_thread(self, session_id: str) -> None:
        log.warning("telegram: %s's thread is gone; creating a new one", session_id)
        async with self.store.write() as conn:
            await self.rows.threads.update(conn, session_id, self.clock(), thread_id=None,
                                          attempts=0)

    async def _topic_op(self, item: OutboxItem) -> None:
        assert self.api is not None and item.session_id is not None
        if not self.forum:
            return
        found = await self.rows.threads.get(item.session_id)
        if found is None or found.thread_id is None or found.kind != "topic":
            return  # created later with the right name and state
        if item.op == "rename":
            name = item.text[:128]
            await self.api.topic("rename", found.chat_id, found.thread_id, name)
            async with self.store.write() as conn:
                await self.rows.threads.update(conn, item.session_id, self.clock(), name=name)
            return
        try:
            await self.api.topic(item.op, found.chat_id, found.thread_id)
        except Rejected as exc:
            if exc.kind != "thread_missing":
                raise
        async with self.store.write() as conn:
            await self.rows.threads.update(conn, item.session_id, self.clock(),
                                          closed=int(item.op == "close"))


def _mergeable(item: OutboxItem) -> bool:
    return item.op in ("send", "alert") and not item.markup and not item.ref \
        and item.reply_to is None


def _merge(batch: list[OutboxItem]) -> list[OutboxItem]:
    """The first item and the consecutive ones that can share its message (or, for a
    send left in flight, the items that were sent with it)."""
    first = batch[0]
    if first.state == "sending":
        return list(itertools.takewhile(lambda i: i.state == "sending", batch))
    group = [first]
    if not _mergeable(first):
        return group
    size = len(first.text)
    key = (first.op, first.session_id, first.chat_id, first.thread_id)
    for item in batch[1:]:
        if not _mergeable(item) or (item.op, item.session_id, item.chat_id,
                                    item.thread_id) != key:
            break
        if size + 2 + len(item.text) > _MERGE_LIMIT:
            break
        size += 2 + len(item.text)
        group.append(item)
    if any(i.silent for i in group) and not all(i.silent for i in group):
        group = [replace(i, silent=False) for i in group]
    return group


def _joined(group: list[OutboxItem], prefix: str) -> tuple[str, str | None]:
    text = "\n\n".join(prefix + i.text for i in group)
    if any(i.html is None for i in group):
        return text, None
    return text, "\n\n".join(fmt.esc(prefix) + (i.html or "") for i in group)
