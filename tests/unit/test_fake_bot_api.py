"""The fake Bot API, driven by the real python-telegram-bot (PTB 22.x).

These tests pin down both the fake and the PTB behaviour the bridge relies on (what PTB sends,
which exception it raises for what, what it retries by itself). Every figure they print is a
measurement, not an assertion. Each test finishes well under 2 s; only loopback is used.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

try:
    from tests.integration.fake_bot_api import FakeBotApi, check_markup
except ImportError:  # tests/ is not a package: import the module from its folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
    from fake_bot_api import FakeBotApi, check_markup  # type: ignore[no-redef]

T = TypeVar("T")


def run(coro: Awaitable[T], timeout: float = 5.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without this, PTB's own RetryAfter constructor emits PTBDeprecationWarning, which the
    # project's `filterwarnings = error` turns into an exception raised instead of RetryAfter.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture
def fake() -> Iterator[FakeBotApi]:
    with FakeBotApi() as server:
        yield server


def make_bot(fake: FakeBotApi, *, read: float = 5.0, poll_read: float = 5.0) -> Bot:
    return Bot(
        fake.token,
        base_url=fake.base_url,
        base_file_url=fake.base_file_url,
        request=HTTPXRequest(read_timeout=read, connect_timeout=1.0),
        get_updates_request=HTTPXRequest(read_timeout=poll_read, connect_timeout=1.0),
    )


def make_app(fake: FakeBotApi) -> Application:  # type: ignore[type-arg]
    return (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(fake.base_url)
        .base_file_url(fake.base_file_url)
        .connect_timeout(1.0)
        .get_updates_connect_timeout(1.0)
        .get_updates_read_timeout(2.0)
        .concurrent_updates(True)
        .build()
    )


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d) for t, d in pairs]])


# ------------------------------------------------------------------ wire format


def test_get_me_has_no_body_and_calls_are_form_encoded(fake: FakeBotApi) -> None:
    async def main() -> None:
        async with make_bot(fake) as bot:  # initialize() calls getMe
            assert bot.username == "sm_test_bot"
            assert bot.id == fake.bot_id
            topic = await bot.create_forum_topic(fake.chat_id, "agent-1")
            await bot.send_message(
                fake.chat_id,
                "hi",
                message_thread_id=topic.message_thread_id,
                reply_markup=keyboard(("Approve", "ok:1")),
                disable_notification=True,
            )

    run(main())
    get_me = fake.calls("getMe")[0]
    assert get_me.http_method == "POST" and get_me.raw == {} and get_me.content_type == ""
    send = fake.last_call("sendMessage")
    assert send.content_type == "application/x-www-form-urlencoded"
    # On the wire every value is a string; non-strings are JSON.
    assert send.raw["chat_id"] == str(fake.chat_id)
    assert send.raw["disable_notification"] == "true"
    assert json.loads(send.raw["reply_markup"]) == {
        "inline_keyboard": [[{"callback_data": "ok:1", "text": "Approve"}]]
    }
    # Decoded by the fake.
    assert send.params["chat_id"] == fake.chat_id
    assert send.params["message_thread_id"] == fake.topics()[0].thread_id
    assert send.params["disable_notification"] is True
    assert send.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "ok:1"
    assert fake.call_names() == ["getMe", "createForumTopic", "sendMessage"]


def _post(url: str, body: bytes, ctype: str | None) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=body, method="POST")
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())


def test_json_body_and_query_string_are_accepted(fake: FakeBotApi) -> None:
    api = f"{fake.base_url}{fake.token}"
    markup = {"inline_keyboard": [[{"text": "Deny", "callback_data": "no:1"}]]}
    # JSON body with a nested object ...
    status, doc = _post(
        f"{api}/sendMessage",
        json.dumps({"chat_id": fake.chat_id, "text": "j1", "reply_markup": markup}).encode(),
        "application/json",
    )
    assert status == 200 and doc["ok"] and doc["result"]["reply_markup"] == markup
    # ... or with the object as a JSON string, as the Bot API also allows.
    status, doc = _post(
        f"{api}/sendMessage",
        json.dumps(
            {"chat_id": fake.chat_id, "text": "j2", "reply_markup": json.dumps(markup)}
        ).encode(),
        "application/json",
    )
    assert status == 200 and doc["result"]["reply_markup"] == markup
    # Query string, any method-name case, GET.
    with urllib.request.urlopen(f"{api}/GETME?x=1", timeout=2) as resp:
        assert json.loads(resp.read())["result"]["username"] == "sm_test_bot"
    # Text that looks like JSON stays text.
    status, doc = _post(
        f"{api}/sendMessage",
        f"chat_id={fake.chat_id}&text=%5B1%2C%202%5D".encode(),
        "application/x-www-form-urlencoded",
    )
    assert doc["result"]["text"] == "[1, 2]"
    assert fake.last_call("sendMessage").params["text"] == "[1, 2]"
    # Wrong token: 401, which PTB turns into InvalidToken.
    status, doc = _post(f"{fake.base_url}123:nope/getMe", b"", None)
    assert status == 401 and doc == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert [c.method for c in fake.calls()] == [
        "sendMessage",
        "sendMessage",
        "getMe",
        "sendMessage",
        "getMe",
    ]


def test_wrong_token_is_invalid_token(fake: FakeBotApi) -> None:
    async def main() -> None:
        bot = Bot("1:wrong", base_url=fake.base_url)
        with pytest.raises(InvalidToken):
            await bot.initialize()
        await bot.shutdown()

    run(main())


# ------------------------------------------------------------------ topics and messages


def test_topic_messages_look_like_telegrams(fake: FakeBotApi) -> None:
    async def main() -> None:
        async with make_bot(fake) as bot:
            topic = await bot.create_forum_topic(fake.chat_id, "agent-1")
            first = await bot.send_message(
                fake.chat_id, "one", message_thread_id=topic.message_thread_id
            )
            reply = await bot.send_message(
                fake.chat_id, "two", reply_to_message_id=first.message_id
            )
            return topic, first, reply

    topic, first, reply = run(main())
    # The thread id is the id of the topic's creation (service) message; ids are per chat.
    assert first.message_id == topic.message_thread_id + 1
    assert first.message_thread_id == topic.message_thread_id and first.is_topic_message
    assert first.reply_to_message is not None
    assert first.reply_to_message.message_id == topic.message_thread_id
    assert first.reply_to_message.forum_topic_created is not None
    assert first.reply_to_message.forum_topic_created.name == "agent-1"
    # PTB sends reply_to_message_id as reply_parameters; a reply lands in the target's topic.
    assert fake.last_call("sendMessage").params["reply_parameters"] == {
        "message_id": first.message_id
    }
    assert reply.message_thread_id == topic.message_thread_id
    assert (
        reply.reply_to_message is not None and reply.reply_to_message.message_id == first.message_id
    )
    assert fake.topic_texts(topic.message_thread_id) == ["one", "two"]
    assert fake.messages(thread_id=None) == []  # nothing in General


def test_topic_lifecycle_and_telegram_errors(fake: FakeBotApi) -> None:
    async def main() -> dict[str, str]:
        errors: dict[str, str] = {}

        async def err(name: str, coro: Awaitable[Any]) -> None:
            with pytest.raises(BadRequest) as info:
                await coro
            errors[name] = info.value.message

        async with make_bot(fake) as bot:
            cid = fake.chat_id
            t = (await bot.create_forum_topic(cid, "a")).message_thread_id
            assert await bot.edit_forum_topic(cid, t, name="b")
            await err("same_name", bot.edit_forum_topic(cid, t, name="b"))
            assert await bot.close_forum_topic(cid, t)
            await err("close_twice", bot.close_forum_topic(cid, t))
            assert await bot.reopen_forum_topic(cid, t)
            await err("general_thread", bot.send_message(cid, "x", message_thread_id=1))
            assert await bot.delete_forum_topic(cid, t)
            await err("deleted_thread", bot.send_message(cid, "x", message_thread_id=t))
            await err("too_long", bot.send_message(cid, "x" * 4097))
            await err(
                "bad_button", bot.send_message(cid, "x", reply_markup=keyboard(("b", "d" * 65)))
            )
            await err("no_such_query", bot.answer_callback_query("123"))
            await err("no_such_chat", bot.send_message(-100999, "x"))
            m = await bot.send_message(cid, "same", reply_markup=keyboard(("ok", "ok")))
            await err(
                "not_modified",
                bot.edit_message_text(
                    "same", cid, m.message_id, reply_markup=keyboard(("ok", "ok"))
                ),
            )
            # An edit without reply_markup drops the keyboard (as Telegram does).
            edited = await bot.edit_message_text("same", cid, m.message_id)
            assert edited.reply_markup is None
            with pytest.raises(Forbidden):
                fake.fail("sendMessage", status=403)
                await bot.send_message(cid, "x")
        return errors

    errors = run(main())
    # PTB strips "Bad Request: " and applies str.capitalize(): the rest is lower-cased.
    assert errors == {
        "same_name": "Topic_not_modified",
        "close_twice": "Topic_not_modified",
        "general_thread": "Message thread not found",
        "deleted_thread": "Message thread not found",
        "too_long": "Message is too long",
        "bad_button": "Button_data_invalid",
        "no_such_query": "Query is too old and response timeout expired or query id is invalid",
        "no_such_chat": "Chat not found",
        "not_modified": "Message is not modified: specified new message content and reply "
        "markup are exactly the same as a current content and reply markup of the message",
    }
    assert fake.topics() == []


def test_markup_is_checked_and_can_be_rejected_for_plain_text_fallback(fake: FakeBotApi) -> None:
    assert check_markup("v1.2 done!", "MarkdownV2")[0] is not None
    assert check_markup(r"v1\.2 *done*\!", "MarkdownV2") == (None, "v1.2 done!")
    assert check_markup("a <b>bold</b> &amp; <code>x</code>", "HTML") == (None, "a bold & x")
    assert "unsupported start tag" in (check_markup("Vec<String>", "HTML")[0] or "").lower()
    assert check_markup("line<br>", "HTML")[0] is not None
    assert check_markup("<b>open", "HTML")[0] is not None

    async def main() -> list[str]:
        async with make_bot(fake) as bot:
            with pytest.raises(BadRequest, match="(?i)can't parse entities"):
                await bot.send_message(fake.chat_id, "v1.2 done", parse_mode="MarkdownV2")
            fake.reject_markup(times=1)
            with pytest.raises(BadRequest, match="(?i)can't parse entities") as info:
                await bot.send_message(fake.chat_id, "<b>fine</b>", parse_mode="HTML")
            assert isinstance(info.value, NetworkError)  # catch BadRequest before NetworkError!
            await bot.send_message(fake.chat_id, "<b>fine</b>")  # the plain-text fallback
            await bot.send_message(fake.chat_id, "<b>fine</b>", parse_mode="HTML")  # rule used up
        return fake.topic_texts(None)

    assert run(main()) == ["<b>fine</b>", "fine"]


# ------------------------------------------------------------------ updates


def test_long_poll_holds_and_returns_at_once_on_inject(fake: FakeBotApi) -> None:
    async def main() -> None:
        async with make_bot(fake) as bot:
            t0 = time.monotonic()
            assert await bot.get_updates(timeout=0.3) == ()
            empty = time.monotonic() - t0
            assert 0.25 <= empty < 1.5

            timer = threading.Timer(0.1, fake.inject_message, args=("hello",))
            timer.start()
            t0 = time.monotonic()
            updates = await bot.get_updates(timeout=5)
            woke = time.monotonic() - t0
            timer.join()
            assert [u.message.text for u in updates if u.message] == ["hello"]
            assert woke < 1.0  # far below the 5 s poll: answered when the update arrived
            print(f"\nempty 0.3 s poll: {empty * 1000:.0f} ms; inject->return {woke * 1000:.0f} ms")

            # Not confirmed yet: the same update comes again until offset passes it.
            again = await bot.get_updates(timeout=0)
            assert [u.update_id for u in again] == [updates[0].update_id]
            fake.inject_message("second")
            fresh = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
            assert [u.message.text for u in fresh if u.message] == ["second"]
            assert fresh[0].update_id == updates[0].update_id + 1
            assert len(fake.pending_updates) == 1

    run(main())


def test_second_poller_makes_the_first_one_conflict(fake: FakeBotApi) -> None:
    async def main() -> None:
        async with make_bot(fake) as one, make_bot(fake) as two:
            held = asyncio.create_task(one.get_updates(timeout=3))
            await fake.await_call("getUpdates", answered=False)
            await two.get_updates(timeout=0)
            with pytest.raises(Conflict, match="only one bot instance"):
                await held

    run(main())


def test_injected_messages_in_topics_commands_and_replies(fake: FakeBotApi) -> None:
    thread = fake.add_topic("agent-7")
    bot_msg_holder: dict[str, int] = {}

    async def main() -> tuple[Update, ...]:
        async with make_bot(fake) as bot:
            m = await bot.send_message(fake.chat_id, "question?", message_thread_id=thread)
            bot_msg_holder["id"] = m.message_id
            fake.inject_message("plain words", thread_id=thread)
            fake.inject_message("/status@sm_test_bot now", thread_id=thread)
            fake.inject_message("an answer", reply_to=m.message_id)
            fake.inject_message("in general")
            return await bot.get_updates(timeout=0)

    ups = run(main())
    msgs = [u.message for u in ups]
    assert all(m is not None for m in msgs)
    plain, command, answer, general = msgs  # type: ignore[misc]
    assert plain.is_topic_message and plain.message_thread_id == thread
    # A topic message that is not a reply still has reply_to_message: the topic's root.
    assert plain.reply_to_message.message_id == thread
    assert plain.reply_to_message.forum_topic_created is not None
    assert command.entities[0].type == "bot_command" and command.entities[0].length == 19
    # A reply to a bot message in the topic: the reply target is the bot's message.
    assert answer.is_topic_message and answer.message_thread_id == thread
    assert answer.reply_to_message.message_id == bot_msg_holder["id"]
    assert answer.reply_to_message.from_user.is_bot
    assert general.message_thread_id is None and not general.is_topic_message
    assert fake.topic_texts(thread) == [
        "question?",
        "plain words",
        "/status@sm_test_bot now",
        "an answer",
    ]


def test_application_in_a_running_loop_sees_messages_commands_and_buttons(
    fake: FakeBotApi,
) -> None:
    """The shape of the bridge: PTB started and stopped inside a loop someone else owns."""
    thread = fake.add_topic("agent-1")
    seen: list[tuple[str, Any]] = []

    async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg = update.effective_message
        assert msg is not None
        seen.append(("text", (msg.text, msg.message_thread_id, msg.is_topic_message)))

    async def on_status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(("command", context.args))
        assert update.effective_message is not None
        await update.effective_message.reply_text("all idle")  # keeps the topic by itself

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.message is not None
        seen.append(("button", (query.data, query.message.message_id)))
        await query.answer("approved")
        await query.edit_message_text(f"{query.message.text} -> approved")

    async def main() -> dict[str, float]:
        app = make_app(fake)
        app.add_handler(CommandHandler("status", on_status))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
        app.add_handler(CallbackQueryHandler(on_button))

        lag = 0.0
        stop_ticker = asyncio.Event()

        async def ticker() -> None:  # the rest of the daemon must keep running
            nonlocal lag
            while not stop_ticker.is_set():
                t = time.monotonic()
                await asyncio.sleep(0.005)
                lag = max(lag, time.monotonic() - t - 0.005)

        tick = asyncio.create_task(ticker())
        t0 = time.monotonic()
        await app.initialize()  # getMe
        await app.start()  # update fetcher task
        await app.updater.start_polling(timeout=10, allowed_updates=Update.ALL_TYPES)
        started = time.monotonic() - t0

        ask = await app.bot.send_message(
            fake.chat_id,
            "Run rm -rf build/?",
            message_thread_id=thread,
            reply_markup=keyboard(("Approve", "perm:1:yes"), ("Deny", "perm:1:no")),
        )
        fake.inject_message("hi there", thread_id=thread)
        fake.inject_message("/status verbose", thread_id=thread)
        fake.inject_callback(ask.message_id, "perm:1:yes")
        await fake.await_call("editMessageText")
        await fake.await_call("sendMessage", count=2)

        t0 = time.monotonic()
        await app.updater.stop()  # cancels the held long poll, then confirms the offset
        await app.stop()
        await app.shutdown()
        stopped = time.monotonic() - t0
        stop_ticker.set()
        await tick
        return {"start": started, "stop": stopped, "lag": lag}

    timings = run(main())
    print(
        f"\nstart {timings['start'] * 1000:.0f} ms, stop {timings['stop'] * 1000:.0f} ms "
        f"(poll timeout 10 s), worst loop lag {timings['lag'] * 1000:.1f} ms"
    )
    assert timings["stop"] < 1.5  # stopping does not wait for the 10 s long poll
    assert sorted(seen, key=lambda kv: kv[0]) == [
        ("button", ("perm:1:yes", fake.topic_messages(thread)[0]["message_id"])),
        ("command", ["verbose"]),
        ("text", ("hi there", thread, True)),
    ]
    answer = fake.last_call("answerCallbackQuery")
    assert answer.params["text"] == "approved"
    assert answer.params["callback_query_id"] in fake.callback_answers
    # Message.reply_text fills message_thread_id and, outside private chats, quotes the
    # message it answers (reply_parameters) unless do_quote=False.
    status_reply = fake.calls("sendMessage")[-1]
    command_id = fake.topic_messages(thread)[2]["message_id"]
    assert status_reply.params["message_thread_id"] == thread
    assert status_reply.params["reply_parameters"] == {"message_id": command_id}
    assert fake.topic_texts(thread) == [
        "Run rm -rf build/? -> approved",
        "hi there",
        "/status verbose",
        "all idle",
    ]
    # edit_message_text without reply_markup removed the buttons.
    assert "reply_markup" not in fake.topic_messages(thread)[0]
    # initialize() -> getMe; start_polling() -> deleteWebhook (bootstrap), then the poll task.
    assert fake.call_names()[:2] == ["getMe", "deleteWebhook"]
    # On stop the updater polls once more with timeout=0 to confirm what it fetched.
    last_poll = fake.calls("getUpdates")[-1]
    assert last_poll.params["timeout"] == 0
    assert fake.pending_updates == []


# ------------------------------------------------------------------ 429, failures, timeouts


def test_retry_after_is_raised_not_retried_by_bot_methods(fake: FakeBotApi) -> None:
    async def main() -> None:
        async with make_bot(fake) as bot:
            fake.rate_limit("sendMessage", retry_after=3)
            with pytest.raises(RetryAfter) as info:
                await bot.send_message(fake.chat_id, "x")
            assert info.value.retry_after.total_seconds() == 3  # a timedelta (PTB_TIMEDELTA=1)
            assert not isinstance(info.value, NetworkError)
            await bot.send_message(fake.chat_id, "y")

    run(main())
    sends = fake.calls("sendMessage")
    assert [c.status for c in sends] == [429, 200]  # no retry of its own
    assert sends[0].response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }


def test_retry_after_warning_trap(fake: FakeBotApi, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without PTB_TIMEDELTA, PTB 22.x warns inside RetryAfter.__init__; where warnings are
    errors (this project's pytest config) the caller gets the warning, not RetryAfter."""
    monkeypatch.delenv("PTB_TIMEDELTA")

    async def main() -> None:
        async with make_bot(fake) as bot:
            fake.rate_limit("sendMessage", retry_after=2)
            with pytest.warns(PTBDeprecationWarning), pytest.raises(RetryAfter) as info:
                await bot.send_message(fake.chat_id, "x")
            with pytest.warns(PTBDeprecationWarning):
                assert info.value.retry_after == 2  # an int, with a warning

    run(main())


def test_updater_sleeps_retry_after_plus_half_a_second(fake: FakeBotApi) -> None:
    async def main() -> float:
        app = make_app(fake)
        errors: list[TelegramError] = []
        async with app:
            fake.rate_limit("getUpdates", retry_after=0.2)
            await app.updater.start_polling(timeout=5, error_callback=errors.append)
            second = await fake.await_call("getUpdates", count=2, answered=False)
            first = fake.calls("getUpdates")[0]
            await app.updater.stop()
        assert errors == []  # RetryAfter never reaches error_callback
        return second.t - first.t

    gap = run(main())
    print(f"\n429 retry_after=0.2 -> next getUpdates after {gap * 1000:.0f} ms")
    assert 0.65 <= gap < 1.2


def test_updater_reports_network_errors_and_backs_off(fake: FakeBotApi) -> None:
    async def main() -> tuple[float, list[TelegramError]]:
        app = make_app(fake)
        errors: list[TelegramError] = []
        async with app:
            fake.fail("getUpdates", status=502, times=1)
            await app.updater.start_polling(timeout=5, error_callback=errors.append)
            second = await fake.await_call("getUpdates", count=2, answered=False)
            first = fake.calls("getUpdates")[0]
            await app.updater.stop()
        return second.t - first.t, errors

    gap, errors = run(main())
    print(f"\n502 on getUpdates -> error_callback, next poll after {gap * 1000:.0f} ms")
    assert len(errors) == 1 and type(errors[0]) is NetworkError
    assert 0.95 <= gap < 1.5  # 1 s, then 1.5 s, 2.25 s ... capped at 30 s


def test_updater_stop_waits_out_the_backoff_unless_bounded(
    fake: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    """The retry loop's sleep (retry_after + 0.5 s, or up to 30 s after network errors) is
    not interrupted by stop(). asyncio.wait_for bounds it and leaves nothing behind."""

    async def one(bound: float | None) -> float:
        caplog.clear()
        app = make_app(fake)
        async with app:
            await app.start()
            fake.rate_limit("getUpdates", retry_after=0.3)  # -> a 0.8 s sleep
            await app.updater.start_polling(timeout=5)
            # PTB logs "... Retrying." right before it sleeps (logger "telegram.ext", DEBUG).
            while not any("Retrying" in r.getMessage() for r in caplog.records):
                await asyncio.sleep(0.002)
            t0 = time.monotonic()
            if bound is None:
                await app.updater.stop()
            else:
                await asyncio.wait_for(app.updater.stop(), bound)  # returns, no TimeoutError
            took = time.monotonic() - t0
            assert not app.updater.running
            await app.stop()
        ptb_tasks = [t.get_name() for t in asyncio.all_tasks() if ":" in t.get_name()]
        assert ptb_tasks == []  # "Updater:start_polling:polling_task" & co are gone
        return took

    with caplog.at_level(logging.DEBUG, logger="telegram.ext"):
        unbounded = run(one(None))
        bounded = run(one(0.1))
    print(f"\nupdater.stop() during a 0.8 s backoff: {unbounded:.2f} s; bounded: {bounded:.2f} s")
    assert unbounded >= 0.6 and bounded < 0.5


class StampingRequest(HTTPXRequest):
    """Sees every getUpdates outcome, including the TimedOut that the Updater retries
    silently: the hook a bridge can use to tell "Telegram unreachable" from "quiet"."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outcomes: list[int | str] = []

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        try:
            code, payload = await super().do_request(*args, **kwargs)
        except Exception as exc:
            self.outcomes.append(type(exc).__name__)
            raise
        self.outcomes.append(code)
        return code, payload


def test_a_stalled_poll_is_retried_silently_but_a_request_hook_sees_it(fake: FakeBotApi) -> None:
    async def main() -> tuple[list[int | str], list[TelegramError]]:
        stamp = StampingRequest(read_timeout=0.2, connect_timeout=1.0)
        app = (
            ApplicationBuilder()
            .token(fake.token)
            .base_url(fake.base_url)
            .get_updates_request(stamp)
            .build()
        )
        errors: list[TelegramError] = []
        async with app:
            fake.hang("getUpdates")
            await app.updater.start_polling(timeout=0.2, error_callback=errors.append)
            while 200 not in stamp.outcomes:
                await asyncio.sleep(0.005)
            await app.updater.stop()
        fake.release_hangs()
        return stamp.outcomes, errors

    outcomes, errors = run(main())
    assert outcomes[0] == "TimedOut" and 200 in outcomes  # 0.2 s poll + 0.2 s read timeout
    assert errors == []  # the Updater never reported the stall


def test_polling_survives_an_outage(fake: FakeBotApi) -> None:
    async def main() -> tuple[list[TelegramError], float]:
        app = make_app(fake)
        got = asyncio.Event()
        errors: list[TelegramError] = []

        async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            got.set()

        app.add_handler(MessageHandler(filters.TEXT, on_text))
        async with app:
            await app.start()
            await app.updater.start_polling(timeout=5, error_callback=errors.append)
            await fake.await_call("getUpdates", answered=False)
            await asyncio.to_thread(fake.go_down, "refuse")  # cuts the held poll too
            while not errors:
                await asyncio.sleep(0.005)
            t0 = time.monotonic()
            await asyncio.to_thread(fake.come_up)  # same port
            fake.inject_message("after the outage")
            await asyncio.wait_for(got.wait(), 3)
            recovered = time.monotonic() - t0
            await app.updater.stop()
            await app.stop()
        return errors, recovered

    errors, recovered = run(main())
    print(f"\noutage: {errors[0]!r}; message delivered {recovered * 1000:.0f} ms after come_up")
    assert type(errors[0]) is NetworkError  # not TimedOut: that one is retried silently
    assert recovered < 2.0


def test_server_down_slow_hung_or_dropping(fake: FakeBotApi) -> None:
    async def main() -> dict[str, str]:
        out: dict[str, str] = {}
        async with make_bot(fake, read=0.3, poll_read=0.2) as bot:
            await bot.send_message(fake.chat_id, "warm")
            with fake.down("refuse"):
                with pytest.raises(NetworkError) as info:
                    await bot.send_message(fake.chat_id, "lost")
                out["refused"] = repr(info.value)
            with fake.down("502"):
                with pytest.raises(NetworkError) as info:
                    await bot.send_message(fake.chat_id, "lost")
                out["502"] = f"{type(info.value).__name__}: {info.value.message[:30]}"
            fake.drop("sendMessage")
            with pytest.raises(NetworkError) as info:
                await bot.send_message(fake.chat_id, "lost")
            out["dropped"] = repr(info.value)
            # A stalled long poll: PTB's read timeout for getUpdates is read_timeout + timeout.
            fake.hang("getUpdates")
            t0 = time.monotonic()
            with pytest.raises(TimedOut):
                await bot.get_updates(timeout=0.3)
            out["stalled_poll_s"] = f"{time.monotonic() - t0:.2f}"
            fake.release_hangs()
            # A slow answer: TimedOut, yet the server did post the message.
            fake.set_delay(0.5, "sendMessage")
            with pytest.raises(TimedOut):
                await bot.send_message(fake.chat_id, "slow but delivered")
            fake.set_delay(0, "sendMessage")
            await fake.await_call(
                "sendMessage", predicate=lambda c: c.params["text"].startswith("slow")
            )
            await bot.send_message(fake.chat_id, "back")
        return out

    out = run(main())
    print("\n" + "\n".join(f"{k}: {v}" for k, v in out.items()))
    assert "ConnectError" in out["refused"]
    assert out["502"].startswith("NetworkError: Bad Gateway (502)")
    assert "RemoteProtocolError" in out["dropped"]
    assert 0.45 <= float(out["stalled_poll_s"]) < 1.2
    assert fake.topic_texts(None) == ["warm", "slow but delivered", "back"]


def test_aioratelimiter_needs_the_rate_limiter_extra() -> None:
    if importlib.util.find_spec("aiolimiter") is not None:
        limiter = AIORateLimiter(max_retries=1)
        assert limiter is not None
        return
    with pytest.raises(RuntimeError, match=r"python-telegram-bot\[rate-limiter\]"):
        AIORateLimiter()


# ------------------------------------------------------------------ the rest of the surface


def test_commands_chat_webhook_documents_and_unknown_methods(fake: FakeBotApi) -> None:
    async def main() -> None:
        async with make_bot(fake) as bot:
            assert await bot.set_my_commands([("status", "Show sessions"), ("stop", "Stop one")])
            assert [c.command for c in await bot.get_my_commands()] == ["status", "stop"]
            with pytest.raises(BadRequest, match="(?i)bot_command_invalid"):
                await bot.set_my_commands([("Bad-Name", "x")])
            chat = await bot.get_chat(fake.chat_id)
            assert chat.is_forum and chat.type == "supergroup"
            fake.inject_message("stale")
            assert await bot.delete_webhook(drop_pending_updates=True)
            assert fake.pending_updates == []
            await bot.send_chat_action(fake.chat_id, "typing")
            msg = await bot.send_document(fake.chat_id, b"long output\n" * 100, filename="out.txt")
            assert msg.document is not None and msg.document.file_name == "out.txt"
            file = await bot.get_file(msg.document.file_id)
            assert bytes(await file.download_as_bytearray()) == b"long output\n" * 100
            assert await bot.do_api_request("someFutureMethod", api_kwargs={"a": 1}) is True
            fake.strict_methods = True
            with pytest.raises(EndPointNotFound):
                await bot.do_api_request("anotherFutureMethod")

    run(main())
    unknown = fake.unknown_calls
    assert [(c.method, c.raw) for c in unknown] == [
        ("someFutureMethod", {"a": "1"}),
        ("anotherFutureMethod", {}),
    ]
    upload = fake.last_call("sendDocument")
    assert upload.content_type == "multipart/form-data"
    assert upload.files["document"][0] == "out.txt"
