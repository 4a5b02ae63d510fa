"""What humans send: access first, then buttons, commands, and text for the agents.

Only allowed users (``telegram.allowed_user_ids``) and everyone in allowed chats
(``telegram.allowed_chat_ids``) are served; with both empty nobody is. Anything else
is logged and dropped before any handler sees it.

Text in a session's topic, or a reply to one of its messages, goes to that session
through the normal queue as ``human`` (``/urgent TEXT`` interrupts); the receipt is
answered when the message lands. A pending ``sm ask`` question of that session takes
the text as its answer instead. Commands call the same operations the HTTP routes
call, as the operator (via Telegram); an unknown ``/command`` in a session's topic goes
to the agent as typed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telegram import Message, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from sm.config import TelegramSettings
from sm.core.caller import Caller
from sm.core.sessions import SpawnRequest
from sm.errors import InvalidInput, SmError
from sm.ops import Ops
from sm.store import Store
from sm.store.telegram import OutboxItem, TelegramRows
from sm.telegram import format as fmt
from sm.telegram.api import Api, Retry
from sm.telegram.approvals import Approvals
from sm.telegram.asks import Asks
from sm.telegram.mirror import Mirror
from sm.telegram.outbox import Outbox

log = logging.getLogger("sm.telegram")

Context = ContextTypes.DEFAULT_TYPE
COMMANDS = ("help", "start", "list", "status", "tail", "output", "spawn", "kill", "clear",
            "send", "urgent")


@dataclass(frozen=True)
class Access:
    users: frozenset[int]
    chats: frozenset[int]

    @classmethod
    def from_settings(cls, settings: TelegramSettings) -> Access:
        """Raises InvalidInput naming the key of an id that is not a number."""
        def ids(key: str, values: tuple[str, ...]) -> frozenset[int]:
            try:
                return frozenset(int(v) for v in values)
            except ValueError as exc:
                raise InvalidInput(f"telegram.{key}: {exc}; expected numeric ids") from None
        return cls(ids("allowed_user_ids", settings.allowed_user_ids),
                   ids("allowed_chat_ids", settings.allowed_chat_ids))

    def allows(self, user_id: int | None, chat_id: int | None) -> bool:
        return user_id in self.users or chat_id in self.chats

    @property
    def is_empty(self) -> bool:
        return not self.users and not self.chats


class Inbound:
    def __init__(
        self, settings: TelegramSettings, store: Store, rows: TelegramRows, ops: Ops,
        caller: Caller, outbox: Outbox, mirror: Mirror, approvals: Approvals, asks: Asks,
    ) -> None:
        self.settings = settings
        self.access = Access.from_settings(settings)
        self.store = store
        self.rows = rows
        self.ops = ops
        self.caller = caller
        self.outbox = outbox
        self.mirror = mirror
        self.approvals = approvals
        self.asks = asks
        self.api: Api | None = None

    def register(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        app.add_handler(TypeHandler(Update, self._gate), group=-1)
        app.add_handler(CallbackQueryHandler(self._on_button))
        app.add_handler(CommandHandler(COMMANDS, self._on_command,
                                       filters=filters.UpdateType.MESSAGE))
        app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.TEXT, self._on_text))
        app.add_error_handler(self._on_error)

    # -- access ------------------------------------------------------------------------
    async def _gate(self, update: Update, context: Context) -> None:
        user, chat = update.effective_user, update.effective_chat
        if user is not None and not user.is_bot and self.access.allows(
                user.id, chat.id if chat else None):
            return
        log.warning("telegram: dropped update %d from user %s in chat %s: not allowed",
                    update.update_id, user.id if user else "?", chat.id if chat else "?")
        raise ApplicationHandlerStop

    async def _on_error(self, update: object, context: Context) -> None:
        log.error("telegram handler failed: %r", context.error, exc_info=context.error)

    # -- buttons -----------------------------------------------------------------------
    async def _on_button(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is None:
            return
        kind, _, rest = (query.data or "").partition(":")
        key, _, choice = rest.partition(":")
        who = _who(query.from_user)
        try:
            if kind == "perm" and key.isdigit():
                answer = await self.approvals.press(int(key), choice, who)
            elif kind == "ask" and choice.isdigit():
                answer = await self.asks.press(key, int(choice), who)
            else:
                answer = "unknown button"
        except SmError as exc:
            answer = exc.message[:190]
        if self.api is not None:
            try:
                await self.api.answer(query.id, answer)
            except (Retry, SmError) as exc:
                log.info("telegram: could not answer a button press: %s", exc.message)

    # -- text --------------------------------------------------------------------------
    async def _on_text(self, update: Update, context: Context) -> None:
        msg = update.message
        if msg is None or msg.text is None:
            return
        session_id = await self._session_of(msg, context.bot.id)
        reply_to = self._replied(msg, context.bot.id)
        who = _who(msg.from_user)
        if await self.asks.answer_text(session_id, msg.text, who, reply_to):
            return
        if session_id is None:
            if msg.chat.type == "private":  # in a group, humans talk among themselves too
                await self._reply(msg, ("Reply to a session's message, or use /send SESSION "
                                        "TEXT. /help lists the commands.", None))
            return
        try:
            await self._inject(msg, session_id, msg.text, "sequential")
        except SmError as exc:
            await self._reply(msg, (f"✗ {exc.message}", None))

    async def _inject(self, msg: Message, session_id: str, text: str, mode: str) -> None:
        """Queue ``text`` for the session as ``human``; its receipt is owed to ``msg``."""
        if not text.strip():
            raise InvalidInput("nothing to send")
        async with self.mirror.gate:  # the mirror must see the receipt row with the message
            sent = await self.ops.messages.send(self.caller, [session_id], text, mode,
                                                sender="human")
            async with self.store.write() as conn:
                for m in sent:
                    await self.rows.inbound.owe(conn, m.id, msg.chat_id, _thread_of(msg),
                                                msg.message_id)

    async def _session_of(self, msg: Message, bot_id: int) -> str | None:
        if msg.is_topic_message and msg.message_thread_id:
            found = await self.rows.threads.at(msg.chat_id, msg.message_thread_id)
            if found is not None:
                return found.session_id
        replied = self._replied(msg, bot_id)
        return await self.rows.sent.session_of(*replied) if replied else None

    @staticmethod
    def _replied(msg: Message, bot_id: int) -> tuple[int, int] | None:
        """(chat, message) of our message the human replied to; in a topic a plain
        message "replies" to the topic's creation, which is not a reply to us."""
        r = msg.reply_to_message
        if r is None or r.from_user is None or r.from_user.id != bot_id:
            return None
        if r.forum_topic_created is not None:
            return None
        return msg.chat_id, r.message_id

    # -- commands ----------------------------------------------------------------------
    async def _on_command(self, update: Update, context: Context) -> None:
        msg = update.message
        if msg is None or msg.text is None:
            return
        name = msg.text.split(maxsplit=1)[0][1:].split("@", 1)[0].lower()
        rest = msg.text.split(maxsplit=1)[1] if len(msg.text.split(maxsplit=1)) > 1 else ""
        here = await self._session_of(msg, context.bot.id)
        try:
            answer = await self._command(name, rest, here, msg)
        except SmError as exc:
            answer = (f"✗ {exc.message}", None)
        if answer is not None:
            await self._reply(msg, answer)

    async def _command(
        self, name: str, rest: str, here: str | None, msg: Message
    ) -> tuple[str, str | None] | None:
        args = rest.split()
        ref = args[0] if args else here
        if name in ("help", "start"):
            return fmt.HELP, None
        sessions = self.ops.sessions
        if name == "list":
            page = await sessions.list(self.caller, limit=1000)
            return fmt.sessions_table(page.items[-50:])
        if name == "status":
            if ref is None:
                return fmt.sessions_table((await sessions.list(self.caller, live=True)).items)
            return fmt.status(await sessions.get(self.caller, ref))
        if ref is None and name in ("tail", "output", "kill", "clear"):
            raise InvalidInput(f"/{name} which session? /{name} SESSION")
        if name == "tail":
            rec = await sessions.get(self.caller, str(ref))
            return fmt.actions(rec.label, await sessions.tail(self.caller, rec.id, 15))
        if name == "output":
            rec = await sessions.get(self.caller, str(ref))
            return fmt.output(rec.label, await sessions.output(self.caller, rec.id, 40))
        if name == "kill":
            rec = await sessions.kill(self.caller, str(ref))
            return f"{rec.label} {rec.state}", None
        if name == "clear":
            await self.ops.coordination.clear(self.caller, str(ref))
            return f"clear queued for {ref}", None
        if name == "spawn":
            return await self._spawn(args, rest)
        if name == "send":
            parts = rest.split(maxsplit=1)
            if len(parts) < 2:
                raise InvalidInput("usage: /send SESSION TEXT")
            await self._inject(msg, (await self.ops.sessions.get(self.caller, parts[0])).id,
                               parts[1], "sequential")
            return None
        if name == "urgent":
            if here is None:
                parts = rest.split(maxsplit=1)
                if len(parts) < 2:
                    raise InvalidInput("usage: /urgent TEXT in a session's topic, "
                                       "or /urgent SESSION TEXT")
                here, rest = (await self.ops.sessions.get(self.caller, parts[0])).id, parts[1]
            await self._inject(msg, here, rest, "urgent")
            return None
        raise InvalidInput(f"unknown command /{name}")

    async def _spawn(self, args: list[str], rest: str) -> tuple[str, str | None]:
        if not args:
            raise InvalidInput("usage: /spawn PROVIDER [-n NAME] PROMPT")
        provider, words, name = args[0], rest.split(maxsplit=1)[1:], None
        prompt = words[0] if words else ""
        if prompt.startswith(("-n ", "--name ")):
            _, name, *more = prompt.split(maxsplit=2)
            prompt = more[0] if more else ""
        cwd = str(Path(self.settings.cwd or "~").expanduser())
        rec = await self.ops.sessions.spawn(self.caller, SpawnRequest(provider, prompt, name, cwd))
        return f"spawned {rec.label} ({rec.id}, {rec.provider})", None

    async def _reply(self, msg: Message, text: tuple[str, str | None]) -> None:
        """Answer ``msg`` where it was written (its topic), through the outbox."""
        items = [OutboxItem("send", plain, html, chat_id=msg.chat_id,
                            thread_id=_thread_of(msg), reply_to=msg.message_id)
                 for plain, html in _parts(text)]
        await self.outbox.put(*items)


def _parts(text: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    plain, html = text
    if len(plain) <= fmt.LIMIT - 100:
        return [(plain, html)]
    return [(piece, None) for piece in fmt.split(plain)]


def _thread_of(msg: Message) -> int | None:
    return msg.message_thread_id if msg.is_topic_message else None


def _who(user: Any) -> str:
    if user is None:
        return "someone"
    return f"@{user.username}" if user.username else str(user.first_name or user.id)
