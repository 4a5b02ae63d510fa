"""The Bot API calls the bridge makes, with Telegram's errors translated here and only here.

    Retry      (Unavailable)  429, network trouble, timeouts, a bot that lost its rights:
                              try again later; ``after`` says when, ``maybe_sent`` that a
                              timed-out call may still have landed
    Rejected   (Conflict)     Telegram refused this request; ``kind`` says why:
                              markup | not_modified | thread_missing | reply_missing | gone |
                              foreign (not the bot's message) | other

Markup that Telegram cannot parse is resent as plain text; "not modified" counts as done.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Awaitable
from typing import Any, TypeVar

os.environ.setdefault("PTB_TIMEDELTA", "1")  # else RetryAfter itself warns (and fails tests)
logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry the token

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters  # noqa: E402
from telegram.constants import ParseMode  # noqa: E402
from telegram.error import (  # noqa: E402
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from sm.errors import Conflict, Unavailable  # noqa: E402

T = TypeVar("T")
Keyboard = list[list[tuple[str, str]]]  # rows of (label, callback data)


class Retry(Unavailable):
    def __init__(
        self, message: str, after: float = 1.0, maybe_sent: bool = False, limited: bool = False
    ) -> None:
        super().__init__(message)
        self.after = after
        self.maybe_sent = maybe_sent
        self.limited = limited  # Telegram said how long to wait: wait exactly that


class Rejected(Conflict):
    def __init__(self, message: str, kind: str = "other") -> None:
        super().__init__(message)
        self.kind = kind


def translate(exc: TelegramError, what: str) -> Retry | Rejected:
    """The sm error for a Telegram error (subclasses before their bases: BadRequest
    and TimedOut are NetworkErrors)."""
    text = f"telegram {what}: {exc.message}"
    if isinstance(exc, RetryAfter):
        after = exc.retry_after
        seconds = after.total_seconds() if isinstance(after, dt.timedelta) else float(after)
        return Retry(text, after=seconds, limited=True)
    if isinstance(exc, BadRequest):
        low = exc.message.lower()
        for needle, kind in (
            ("can't parse entities", "markup"), ("not modified", "not_modified"),
            ("topic_not_modified", "not_modified"), ("thread not found", "thread_missing"),
            ("topic_id_invalid", "thread_missing"), ("replied not found", "reply_missing"),
            ("message to edit not found", "gone"), ("message can't be edited", "foreign"),
            ("query is too old", "gone"),
        ):
            if needle in low:
                return Rejected(text, kind)
        return Rejected(text)
    if isinstance(exc, TimedOut):
        return Retry(text, after=1.0, maybe_sent="not* sent" not in exc.message)
    if isinstance(exc, Forbidden | InvalidToken | ChatMigrated):
        return Retry(text, after=30.0)  # fixable by the operator; never drop the queue
    if isinstance(exc, NetworkError):
        return Retry(text, after=1.0)
    return Rejected(text)


def keyboard(rows: Keyboard | None) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )


class Api:
    """What the bridge asks of Telegram. Each call is one HTTP round trip (two when
    markup is refused) and raises Retry or Rejected."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def _call(self, what: str, call: Awaitable[T]) -> T:
        try:
            return await call
        except TelegramError as exc:
            raise translate(exc, what) from exc

    async def send(
        self, chat_id: int, text: str, *, html: str | None = None, thread_id: int | None = None,
        reply_to: int | None = None, markup: Keyboard | None = None, silent: bool = False,
    ) -> int:
        """Send a message; returns its id. ``html`` first, ``text`` when markup is refused."""
        kwargs: dict[str, Any] = {
            "message_thread_id": thread_id, "reply_markup": keyboard(markup),
            "disable_notification": silent,
        }
        if reply_to is not None:
            kwargs["reply_parameters"] = ReplyParameters(reply_to, allow_sending_without_reply=True)
        if html is not None:
            try:
                msg = await self._call("sendMessage", self.bot.send_message(
                    chat_id, html, parse_mode=ParseMode.HTML, **kwargs))
                return msg.message_id
            except Rejected as exc:
                if exc.kind != "markup":
                    raise
        msg = await self._call("sendMessage", self.bot.send_message(chat_id, text, **kwargs))
        return msg.message_id

    async def edit(
        self, chat_id: int, message_id: int, text: str, *, html: str | None = None,
        markup: Keyboard | None = None,
    ) -> None:
        """Replace a message's text (dropping its buttons unless ``markup`` is given)."""
        try:
            if html is not None:
                try:
                    await self._call("editMessageText", self.bot.edit_message_text(
                        html, chat_id, message_id, parse_mode=ParseMode.HTML,
                        reply_markup=keyboard(markup)))
                    return
                except Rejected as exc:
                    if exc.kind != "markup":
                        raise
            await self._call("editMessageText", self.bot.edit_message_text(
                text, chat_id, message_id, reply_markup=keyboard(markup)))
        except Rejected as exc:
            if exc.kind != "not_modified":
                raise

    async def is_ours(self, chat_id: int, message_id: int, markup: Keyboard | None) -> bool | None:
        """Whether ``message_id`` is a message this bot sent with ``markup`` (None: no
        message has that id). Asks by setting the markup it already has — a no-op."""
        try:
            await self._call("editMessageReplyMarkup", self.bot.edit_message_reply_markup(
                chat_id, message_id, reply_markup=keyboard(markup)))
        except Rejected as exc:
            if exc.kind == "gone":
                return None
            return exc.kind == "not_modified"
        return True

    async def create_topic(self, chat_id: int, name: str) -> int:
        topic = await self._call("createForumTopic", self.bot.create_forum_topic(chat_id, name))
        return topic.message_thread_id

    async def topic(self, op: str, chat_id: int, thread_id: int, name: str = "") -> None:
        """rename | close | reopen a topic; doing what is already done counts as done."""
        calls = {
            "rename": lambda: self.bot.edit_forum_topic(chat_id, thread_id, name=name),
            "close": lambda: self.bot.close_forum_topic(chat_id, thread_id),
            "reopen": lambda: self.bot.reopen_forum_topic(chat_id, thread_id),
        }
        try:
            await self._call(f"{op} topic", calls[op]())
        except Rejected as exc:
            if exc.kind != "not_modified":
                raise

    async def is_forum(self, chat_id: int) -> bool:
        chat = await self._call("getChat", self.bot.get_chat(chat_id))
        return bool(chat.is_forum)

    async def answer(self, query_id: str, text: str = "") -> None:
        """Stop the pressed button's spinner; an expired query is ignored."""
        try:
            await self._call("answerCallbackQuery",
                             self.bot.answer_callback_query(query_id, text=text or None))
        except Rejected as exc:
            if exc.kind != "gone":
                raise
