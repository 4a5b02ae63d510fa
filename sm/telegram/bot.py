"""The connection to Telegram: python-telegram-bot driven inside the daemon's own loop.

Never ``run_polling()`` (it owns the loop and the signals). ``run`` connects in the
background and retries with backoff while Telegram cannot be reached — the daemon
serves meanwhile — then long-polls for updates. A watchdog restarts the poll when no
getUpdates call has come back for longer than a poll can take (PTB itself silently
retries a poll that timed out; this catches a poll loop that died or wedged).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any

from telegram import BotCommand
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder
from telegram.request import HTTPXRequest

from sm.config import TelegramSettings
from sm.errors import SmError
from sm.telegram.api import Api, translate
from sm.telegram.inbound import Inbound
from sm.telegram.outbox import Outbox

log = logging.getLogger("sm.telegram")

App = Application[Any, Any, Any, Any, Any, Any]
_UPDATES = ["message", "callback_query"]
_MENU = [
    ("list", "every session"), ("status", "a session (default: this topic's)"),
    ("tail", "recent tool actions"), ("output", "the session's screen"),
    ("spawn", "PROVIDER PROMPT: start an agent"), ("kill", "SESSION: stop it"),
    ("clear", "SESSION: reset its conversation"), ("send", "SESSION TEXT"),
    ("urgent", "TEXT: interrupt and deliver"), ("help", "what the bot does"),
]


class _Stamped(HTTPXRequest):
    """The getUpdates transport, noting when each call came back (ok or not)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.returned_at = time.monotonic()
        self.failures = 0

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        try:
            answer = await super().do_request(*args, **kwargs)
        except Exception:
            self.returned_at = time.monotonic()
            self.failures += 1
            if self.failures in (1, 10) or self.failures % 100 == 0:
                log.info("telegram: a long poll failed (%d in a row); retrying", self.failures)
            raise
        self.returned_at = time.monotonic()
        self.failures = 0
        return answer


class Connection:
    def __init__(self, settings: TelegramSettings, outbox: Outbox, inbound: Inbound) -> None:
        self.settings = settings
        self.outbox = outbox
        self.inbound = inbound
        self.app: App | None = None
        self.poll_restarts = 0
        self._stamp: _Stamped | None = None
        self._slack = min(10.0, max(1.0, settings.poll_timeout / 3))

    async def run(self) -> None:
        backoff = 1.0
        while True:
            try:
                await self._connect()
                backoff = 1.0
                await self._watch()
            except (TelegramError, SmError) as exc:
                message = translate(exc, "connect").message if isinstance(
                    exc, TelegramError) else exc.message
                log.warning("telegram: cannot connect (%s); retrying in %.0fs", message, backoff)
            except Exception:  # a bug or an unexpected library error: never leak the app
                log.exception("telegram: the connection failed; retrying in %.0fs", backoff)
            await self.close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 60.0)

    async def _connect(self) -> None:
        t = self.settings
        self._stamp = _Stamped(read_timeout=self._slack, connect_timeout=5.0)
        base = t.base_url.rstrip("/")
        self.app = app = (
            ApplicationBuilder().token(t.token)
            .base_url(base).base_file_url(base.removesuffix("/bot") + "/file/bot")
            .request(HTTPXRequest(connection_pool_size=16, connect_timeout=5.0,
                                  read_timeout=15.0, write_timeout=15.0, pool_timeout=5.0))
            .get_updates_request(self._stamp)
            .build()
        )
        self.inbound.register(app)
        await app.initialize()  # getMe: a wrong token or no Telegram raises here
        api = Api(app.bot)
        forum = await api.is_forum(t.chat_id)
        await app.start()
        await self._poll(app)
        self.outbox.connected(api, forum)
        self.inbound.api = api
        log.info("telegram: connected as @%s; chat %s (%s)", app.bot.username, t.chat_id,
                 "a topic per session" if forum else "reply threads")
        try:
            await app.bot.set_my_commands([BotCommand(c, d) for c, d in _MENU])
        except TelegramError as exc:
            log.info("telegram: cannot set the command menu: %s", exc.message)

    async def _poll(self, app: App) -> None:
        assert app.updater is not None
        await app.updater.start_polling(
            timeout=dt.timedelta(seconds=self.settings.poll_timeout), allowed_updates=_UPDATES,
            drop_pending_updates=False,
            error_callback=lambda exc: log.warning("telegram poll: %s", exc.message),
        )

    async def _watch(self) -> None:
        """Restart the long poll whenever it stops coming back."""
        assert self.app is not None and self.app.updater is not None
        limit = self.settings.poll_timeout + self._slack + 5.0
        while True:
            await asyncio.sleep(min(5.0, limit / 2))
            stamp = self._stamp
            quiet = time.monotonic() - stamp.returned_at if stamp else 0.0
            if quiet < limit and self.app.updater.running:
                continue
            self.poll_restarts += 1
            log.warning("telegram: the long poll stalled (%.0fs without an answer); "
                        "restarting it", quiet)
            await self._stop_polling(self.app)
            if stamp is not None:
                stamp.returned_at = time.monotonic()
            await self._poll(self.app)

    @staticmethod
    async def _stop_polling(app: App) -> None:
        if app.updater is not None and app.updater.running:
            try:  # its retry sleep ignores stop(): bound it
                await asyncio.wait_for(app.updater.stop(), 3.0)
            except (TimeoutError, TelegramError) as exc:
                log.info("telegram: stopping the poll: %r", exc)

    async def close(self) -> None:
        """Stop polling and close the HTTP clients (bounded; idempotent)."""
        app, self.app = self.app, None
        self.outbox.ready.clear()
        if app is None:
            return
        await self._stop_polling(app)
        try:
            if app.running:
                await asyncio.wait_for(app.stop(), 5.0)
            await asyncio.wait_for(app.shutdown(), 5.0)
        except (TimeoutError, TelegramError, RuntimeError) as exc:
            log.info("telegram: shutting down: %r", exc)
