"""A fake Telegram Bot API server on loopback, for tests.

Stdlib only. It speaks the same HTTP the real ``api.telegram.org`` speaks, so the real
python-telegram-bot (PTB) can be pointed at it::

    with FakeBotApi() as fake:
        app = (ApplicationBuilder().token(fake.token)
               .base_url(fake.base_url).base_file_url(fake.base_file_url).build())

PTB posts to ``base_url + token + "/" + method`` (e.g. ``http://127.0.0.1:PORT/bot<token>/getMe``),
form-encoded, with every non-string value JSON-encoded (``reply_markup={"inline_keyboard":...}``,
``chat_id=-100123``, ``disable_notification=true``); uploads come as multipart/form-data. A JSON
body and query-string parameters are accepted too, as the real server accepts them.

What it models (enough for a bridge that mirrors sessions into forum topics):

* getMe, getUpdates (real long polling: the request is held up to ``timeout`` seconds and
  answered at once when an update is injected; ``offset`` confirms and drops updates, negative
  offsets, ``limit``, ``allowed_updates``; a second concurrent poll makes the first one answer
  409 Conflict, as Telegram does when two bot instances poll), sendMessage, editMessageText,
  editMessageReplyMarkup, deleteMessage, sendChatAction, sendDocument, getFile (+ file download),
  answerCallbackQuery, createForumTopic / editForumTopic / closeForumTopic / reopenForumTopic /
  deleteForumTopic, deleteWebhook / setWebhook / getWebhookInfo, setMyCommands / getMyCommands,
  getChat; any other method is recorded (``Call.unknown``) and answered ``{"ok":true,
  "result":true}`` (or 404 like the real server when ``strict_methods=True``).
* Telegram's validation that bites bridges: message thread not found (unknown, deleted or
  General ``1`` thread), message is too long (> 4096), empty text, BUTTON_DATA_INVALID
  (callback_data over 64 bytes), message is not modified (edit with identical text + markup),
  TOPIC_NOT_MODIFIED, query is too old (unknown callback query id), reply target not found, and
  a conservative parser of MarkdownV2 / Markdown / HTML that rejects what Telegram surely
  rejects (an unescaped ``.`` in MarkdownV2, an unsupported tag like ``<br>`` or ``Vec<String>`` in
  HTML, an unclosed entity) with 400 "can't parse entities".
* Realistic ids: one message-id sequence per chat, shared by bot messages, user messages and
  topic-creation service messages (a topic's ``message_thread_id`` is the id of its creation
  message, as in Telegram); ``update_id`` increments by one.
* Topic messages look like Telegram's: ``message_thread_id`` + ``is_topic_message: true`` and,
  when the message is not an explicit reply, ``reply_to_message`` = the topic's
  ``forum_topic_created`` service message. A reply in the General topic carries a
  ``message_thread_id`` but no ``is_topic_message``.

Test controls: :meth:`FakeBotApi.inject_message`, :meth:`FakeBotApi.inject_callback`,
:meth:`FakeBotApi.inject_update`; faults with :meth:`FakeBotApi.rate_limit` (429 +
retry_after), :meth:`FakeBotApi.fail`, :meth:`FakeBotApi.reject_markup`,
:meth:`FakeBotApi.hang`, :meth:`FakeBotApi.drop`, :meth:`FakeBotApi.set_delay`,
:meth:`FakeBotApi.go_down` / :meth:`FakeBotApi.come_up` (connection refused, or 502 from a
"proxy"); records with :meth:`FakeBotApi.calls`, :meth:`FakeBotApi.wait_call` (blocking) /
:meth:`FakeBotApi.await_call` (asyncio); what a chat or topic shows with
:meth:`FakeBotApi.messages` and :meth:`FakeBotApi.topic_texts`.

Never call the blocking ``wait_call`` from the event loop that runs the bot: it blocks the very
loop that has to make the call. Use ``await fake.await_call(...)`` there.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import email.parser
import email.policy
import html
import itertools
import json
import re
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["DEFAULT_TOKEN", "ApiError", "Call", "FakeBotApi", "Fault", "Topic"]

#: A token in Telegram's format (``<bot id>:<35 characters>``). The bot id is the part before ':'.
DEFAULT_TOKEN = "7000000001:AAFakeTokenForLoopbackTestsOnly-xyz"

#: Telegram's documented limits.
MAX_MESSAGE_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64
#: The six colours Telegram accepts for ``createForumTopic.icon_color``.
TOPIC_ICON_COLORS = (0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98, 0xFF93B2, 0xFB6F5F)

_ALL = object()  # sentinel: "any thread"

# Parameter names whose values Telegram decodes as JSON (objects/arrays) ...
_JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "reply_parameters",
        "entities",
        "caption_entities",
        "link_preview_options",
        "allowed_updates",
        "commands",
        "scope",
        "media",
        "results",
        "options",
        "explanation_entities",
        "permissions",
        "menu_button",
        "reaction",
        "prices",
        "suggested_post_parameters",
        "input_message_content",
        "rights",
    }
)
# ... as integers (chat_id stays a string when it is an @username) ...
_INT_PARAMS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "message_thread_id",
        "direct_messages_topic_id",
        "offset",
        "limit",
        "reply_to_message_id",
        "icon_color",
        "cache_time",
        "user_id",
        "until_date",
        "max_connections",
        "duration",
        "width",
        "height",
    }
)
_FLOAT_PARAMS = frozenset({"timeout"})
# ... and as booleans.
_BOOL_PARAMS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "allow_sending_without_reply",
        "disable_web_page_preview",
        "show_alert",
        "drop_pending_updates",
        "allow_paid_broadcast",
        "disable_content_type_detection",
        "is_personal",
        "revoke_messages",
        "only_if_banned",
    }
)

_DEFAULT_ALLOWED = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)  # i.e. everything except chat_member, message_reaction, message_reaction_count

_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_BOT_COMMAND_IN_TEXT = re.compile(r"^/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{1,64})?")
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


class ApiError(Exception):
    """Raised inside a method implementation to answer with an error."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            out["parameters"] = self.parameters
        return out


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class Call:
    """One HTTP request the fake received, in arrival order."""

    seq: int
    method: str  # canonical Bot API name (``sendMessage``) or the name as sent if unknown
    params: dict[str, Any]  # decoded: ints, bools, JSON objects as dicts/lists, text as str
    raw: dict[str, Any]  # as received (form values are strings)
    http_method: str
    content_type: str
    files: dict[str, tuple[str | None, bytes]]  # multipart uploads: field -> (filename, bytes)
    t: float  # time.monotonic() when the request was read
    wall: float  # time.time() when the request was read
    token_ok: bool = True
    unknown: bool = False
    status: int | None = None  # HTTP status answered (None: not answered / dropped)
    response: dict[str, Any] | None = None
    answered_at: float | None = None  # time.monotonic() when the answer was written
    fault: str | None = None  # kind of injected fault that answered this call, if any

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def duration(self) -> float | None:
        return None if self.answered_at is None else self.answered_at - self.t


@dataclass
class Fault:
    """A rule that makes matching calls misbehave."""

    method: str  # "*" or a Bot API method name (case-insensitive)
    kind: str  # "error" | "hang" | "drop"
    remaining: int | None = 1  # None: forever
    status: int = 429
    description: str = ""
    parameters: dict[str, Any] | None = None
    when: Callable[[dict[str, Any]], bool] | None = None
    hits: int = 0

    def matches(self, method: str, params: dict[str, Any]) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method != "*" and self.method.lower() != method.lower():
            return False
        return self.when is None or bool(self.when(params))


@dataclass
class Topic:
    chat_id: int
    thread_id: int
    name: str
    icon_color: int
    icon_custom_emoji_id: str | None = None
    closed: bool = False
    deleted: bool = False


@dataclass
class _Stored:
    chat_id: int
    thread_id: int | None  # forum topic id; None = General / not a forum
    data: dict[str, Any]  # the Message object exactly as Telegram would send it now
    from_bot: bool
    service: bool = False
    deleted: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)  # earlier versions (edits)
    source: tuple[str, str | None] | None = None  # (text as sent, parse_mode) of bot messages


# --------------------------------------------------------------------------------------------
# Markup checks. Conservative: they reject only what Telegram certainly rejects.
# --------------------------------------------------------------------------------------------

_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
        "tg-time",
    }
)
_HTML_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)([^<>]*)>")


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _check_html(text: str) -> tuple[str | None, str]:
    """Return (error, plain_text)."""
    stack: list[str] = []
    plain: list[str] = []
    pos = 0
    for m in _HTML_TAG_RE.finditer(text):
        plain.append(text[pos : m.start()])
        pos = m.end()
        closing, name, _rest = m.group(1), m.group(2).lower(), m.group(3)
        if name not in _HTML_TAGS:
            kind = "end" if closing else "start"
            at = _byte_offset(text, m.start())
            return f'Unsupported {kind} tag "{m.group(2)}" at byte offset {at}', ""
        if closing:
            if not stack:
                return (
                    f"Unexpected end tag at byte offset {_byte_offset(text, m.start())}",
                    "",
                )
            if stack[-1] != name:
                return (
                    f"Unmatched end tag at byte offset {_byte_offset(text, m.start())}, "
                    f'expected "</{stack[-1]}>", found "</{m.group(2)}>"',
                    "",
                )
            stack.pop()
        else:
            stack.append(name)
    plain.append(text[pos:])
    if stack:
        return f'Can\'t find end tag corresponding to start tag "{stack[-1]}"', ""
    return None, html.unescape("".join(plain))


_MDV2_ENTITY_NAMES = {
    "*": "Bold",
    "_": "Italic",
    "__": "Underline",
    "~": "Strikethrough",
    "||": "Spoiler",
    "[": "TextUrl",
}


def _check_markdown_v2(text: str) -> tuple[str | None, str]:
    reserved = "Character '{c}' is reserved and must be escaped with the preceding '\\'"
    open_at: dict[str, int] = {}
    plain: list[str] = []
    i, n = 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 < n:
                plain.append(text[i + 1])
                i += 2
                line_start = False
                continue
            return reserved.format(c="\\"), ""
        if c == "`":
            fence = "```" if text.startswith("```", i) else "`"
            j = i + len(fence)
            while j < n:
                if text[j] == "\\":
                    j += 2
                    continue
                if text.startswith(fence, j):
                    break
                j += 1
            else:
                return (
                    f"Can't find end of {'Pre' if fence == '```' else 'Code'} entity at byte "
                    f"offset {_byte_offset(text, i)}",
                    "",
                )
            plain.append(text[i + len(fence) : j])
            i = j + len(fence)
            line_start = False
            continue
        marker: str | None = None
        if c == "_":
            marker = "__" if text.startswith("__", i) else "_"
        elif c in "*~":
            marker = c
        elif c == "|":
            if not text.startswith("||", i):
                return reserved.format(c="|"), ""
            marker = "||"
        if marker is not None:
            if marker in open_at:
                del open_at[marker]
            else:
                open_at[marker] = i
            i += len(marker)
            line_start = False
            continue
        if c == "[" or (c == "!" and text.startswith("![", i)):
            start = i
            i += 1 if c == "[" else 2
            depth_text_start = i
            # find the closing ']' (escaped ones do not count)
            while i < n and text[i] != "]":
                i += 2 if text[i] == "\\" else 1
            if i >= n or not text.startswith("](", i):
                if i >= n:
                    return (
                        f"Can't find end of TextUrl entity at byte offset "
                        f"{_byte_offset(text, start)}",
                        "",
                    )
                return reserved.format(c="]"), ""
            inner_err, inner_plain = _check_markdown_v2(text[depth_text_start:i])
            if inner_err:
                return inner_err, ""
            plain.append(inner_plain)
            i += 2
            while i < n and text[i] != ")":
                i += 2 if text[i] == "\\" else 1
            if i >= n:
                return (
                    f"Can't find end of TextUrl entity at byte offset {_byte_offset(text, start)}",
                    "",
                )
            i += 1
            line_start = False
            continue
        if c == ">" and line_start:
            i += 1
            line_start = False
            continue
        if c in "]()>#+-={}.!":
            return reserved.format(c=c), ""
        plain.append(c)
        line_start = c == "\n"
        i += 1
    if open_at:
        marker, at = min(open_at.items(), key=lambda kv: kv[1])
        return (
            f"Can't find end of {_MDV2_ENTITY_NAMES.get(marker, 'the')} entity at byte offset "
            f"{_byte_offset(text, at)}",
            "",
        )
    return None, "".join(plain)


def _check_markdown(text: str) -> tuple[str | None, str]:
    """Legacy ``Markdown``: *bold* _italic_ `code` ```pre``` [text](url); backslash escapes."""
    plain: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            plain.append(text[i + 1])
            i += 2
            continue
        if c in "*_`" or c == "[":
            token = "```" if text.startswith("```", i) else c
            end_token = "]" if c == "[" else token
            j = text.find(end_token, i + len(token))
            if j < 0:
                return (
                    f"Can't find end of the entity starting at byte offset {_byte_offset(text, i)}",
                    "",
                )
            plain.append(text[i + len(token) : j])
            i = j + len(end_token)
            if c == "[" and text.startswith("(", i):
                k = text.find(")", i)
                if k < 0:
                    return (
                        "Can't find end of the entity starting at byte offset "
                        f"{_byte_offset(text, i)}",
                        "",
                    )
                i = k + 1
            continue
        plain.append(c)
        i += 1
    return None, "".join(plain)


def check_markup(text: str, parse_mode: str | None) -> tuple[str | None, str]:
    """Return (error description or None, the plain text Telegram would show)."""
    if not parse_mode:
        return None, text
    mode = parse_mode.lower()
    if mode == "html":
        return _check_html(text)
    if mode == "markdownv2":
        return _check_markdown_v2(text)
    if mode == "markdown":
        return _check_markdown(text)
    return "Unsupported parse_mode", ""


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], fake: FakeBotApi) -> None:
        self.fake = fake
        self.conns: set[socket.socket] = set()
        self.conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.conns_lock:
            self.conns.add(sock)
        return sock, addr

    def shutdown_request(self, request: Any) -> None:
        with self.conns_lock:
            self.conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError | ValueError):  # client went away, socket shut by go_down()
            return
        super().handle_error(request, client_address)

    def drop_connections(self) -> None:
        with self.conns_lock:
            conns = list(self.conns)
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real server
    server_version = "nginx"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:  # noqa: N802
        self.server.fake._handle(self)

    def do_GET(self) -> None:  # noqa: N802
        self.server.fake._handle(self)

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_bytes(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


def _decode_value(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if name in _JSON_PARAMS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if name in _INT_PARAMS:
        try:
            return int(value)
        except ValueError:
            return value  # "@channelusername"
    if name in _FLOAT_PARAMS:
        try:
            f = float(value)
            return int(f) if f.is_integer() else f
        except ValueError:
            return value
    if name in _BOOL_PARAMS:
        low = value.lower()
        if low in ("true", "1"):
            return True
        if low in ("false", "0"):
            return False
    return value


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------


class FakeBotApi:
    """A fake Bot API on 127.0.0.1, in a background thread. Use as a context manager."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_username: str = "sm_test_bot",
        bot_first_name: str = "sm",
        forum_chat_id: int = -1001000000001,
        forum_title: str = "sm sessions",
        user_id: int = 4242,
        user_first_name: str = "Human",
        user_username: str = "human",
        validate_markup: bool = True,
        strict_methods: bool = False,
        bot_can_post_in_closed_topics: bool = True,
    ) -> None:
        self.token = token
        self.host = host
        self._requested_port = port
        self.port = 0
        self.validate_markup = validate_markup
        self.strict_methods = strict_methods
        self.bot_can_post_in_closed_topics = bot_can_post_in_closed_topics

        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 7000000001
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.user: dict[str, Any] = {
            "id": user_id,
            "is_bot": False,
            "first_name": user_first_name,
            "username": user_username,
            "language_code": "en",
        }
        self.chat_id = forum_chat_id

        self._cond = threading.Condition()  # guards everything below
        self._calls: list[Call] = []
        self._seq = itertools.count(1)
        self._chats: dict[int, dict[str, Any]] = {}
        self._next_mid: dict[int, int] = {}
        self._msgs: dict[int, dict[int, _Stored]] = {}
        self._topics: dict[tuple[int, int], Topic] = {}
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 352_000_001
        self._allowed_updates: frozenset[str] = _DEFAULT_ALLOWED
        self._poll_generation = 0
        self._webhook_url = ""
        self._callbacks: dict[str, dict[str, Any]] = {}  # pending (unanswered) queries
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self._callback_ids = itertools.count(4_611_686_018_427_387_904 + 17)
        self._file_ids = itertools.count(1)
        self.files: dict[str, dict[str, Any]] = {}  # file_id -> {"name","bytes","path",...}
        self.commands: dict[str, list[dict[str, Any]]] = {}  # scope/lang key -> commands
        self._faults: list[Fault] = []
        self._delays: dict[str, float] = {}
        self._down: str | None = None
        self._stopping = False
        self._hang_release = threading.Event()

        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

        self.add_chat(forum_chat_id, title=forum_title, is_forum=True)

    # ---------------------------------------------------------------- lifecycle

    def __enter__(self) -> FakeBotApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> FakeBotApi:
        if self._server is not None:
            return self
        self._stopping = False
        self._hang_release.clear()
        self._serve(self._requested_port)
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._hang_release.set()
        self._unserve()

    def _serve(self, port: int) -> None:
        server = _Server((self.host, port), self)
        self.port = server.server_address[1]
        self._requested_port = self.port  # come back up on the same port
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-bot-api:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def _unserve(self) -> None:
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.drop_connections()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For ``Bot(base_url=...)`` / ``ApplicationBuilder().base_url(...)``."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    @property
    def bot_id(self) -> int:
        return int(self.bot_user["id"])

    # ---------------------------------------------------------------- faults

    def fail(
        self,
        method: str = "*",
        *,
        status: int = 400,
        description: str | None = None,
        times: int | None = 1,
        retry_after: float | None = None,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Fault:
        """Answer the next ``times`` matching calls (``None``: all) with an error."""
        if description is None:
            description = {
                400: "Bad Request: injected failure",
                401: "Unauthorized",
                403: "Forbidden: bot was kicked from the supergroup chat",
                404: "Not Found",
                409: "Conflict: terminated by other getUpdates request; make sure that only one "
                "bot instance is running",
                429: f"Too Many Requests: retry after {retry_after}",
                500: "Internal Server Error",
                502: "Bad Gateway",
            }.get(status, f"Error {status}")
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        return self._add_fault(Fault(method, "error", times, status, description, parameters, when))

    def rate_limit(
        self, method: str = "*", *, retry_after: float = 1, times: int | None = 1
    ) -> Fault:
        """429 ``Too Many Requests: retry after X`` with ``parameters.retry_after = X``.

        Telegram sends an integer; a float (e.g. 0.2) is accepted by PTB and keeps tests fast.
        """
        shown = int(retry_after) if float(retry_after).is_integer() else retry_after
        return self.fail(
            method,
            status=429,
            description=f"Too Many Requests: retry after {shown}",
            retry_after=shown,
            times=times,
        )

    def reject_markup(self, *, times: int | None = None, method: str = "*") -> Fault:
        """Answer calls that carry a ``parse_mode`` with 400 can't parse entities."""
        return self.fail(
            method,
            status=400,
            description="Bad Request: can't parse entities: Can't find end of the entity "
            "starting at byte offset 0",
            times=times,
            when=lambda p: bool(p.get("parse_mode")),
        )

    def hang(self, method: str = "*", *, times: int | None = 1) -> Fault:
        """Read the request and never answer (until ``release_hangs()``/``stop()``)."""
        return self._add_fault(Fault(method, "hang", times))

    def release_hangs(self) -> None:
        """Let the requests hung so far go: they are then answered normally."""
        old, self._hang_release = self._hang_release, threading.Event()
        old.set()

    def drop(self, method: str = "*", *, times: int | None = 1) -> Fault:
        """Read the request, then close the connection without an answer."""
        return self._add_fault(Fault(method, "drop", times))

    def set_delay(self, seconds: float, method: str = "*") -> None:
        """Wait ``seconds`` before answering calls of ``method`` ("*": every call)."""
        with self._cond:
            if seconds:
                self._delays[method.lower()] = seconds
            else:
                self._delays.pop(method.lower(), None)

    def clear_faults(self) -> None:
        with self._cond:
            self._faults.clear()
            self._delays.clear()
        self.release_hangs()

    def go_down(self, mode: str = "refuse") -> None:
        """``refuse``: close the listening socket and every open connection (clients see
        connection refused / reset); ``502``: stay up but answer every request with an
        nginx-style 502 HTML page."""
        if mode not in ("refuse", "502"):
            raise ValueError("mode must be 'refuse' or '502'")
        with self._cond:
            self._down = mode
            self._cond.notify_all()  # held long polls give up
        if mode == "refuse":
            self._unserve()

    def come_up(self) -> None:
        with self._cond:
            mode, self._down = self._down, None
        if mode == "refuse" and self._server is None and not self._stopping:
            self._serve(self._requested_port)

    @contextlib.contextmanager
    def down(self, mode: str = "refuse") -> Iterator[None]:
        self.go_down(mode)
        try:
            yield
        finally:
            self.come_up()

    def _add_fault(self, fault: Fault) -> Fault:
        with self._cond:
            self._faults.append(fault)
        return fault

    def _take_fault(self, method: str, params: dict[str, Any]) -> Fault | None:
        with self._cond:
            for f in self._faults:
                if f.matches(method, params):
                    f.hits += 1
                    if f.remaining is not None:
                        f.remaining -= 1
                    self._faults = [
                        x for x in self._faults if x.remaining is None or x.remaining > 0
                    ]
                    return f
        return None

    # ---------------------------------------------------------------- records

    def calls(self, method: str | None = None) -> list[Call]:
        with self._cond:
            if method is None:
                return list(self._calls)
            return [c for c in self._calls if c.method.lower() == method.lower()]

    def call_names(self) -> list[str]:
        with self._cond:
            return [c.method for c in self._calls]

    @property
    def unknown_calls(self) -> list[Call]:
        with self._cond:
            return [c for c in self._calls if c.unknown]

    def last_call(self, method: str | None = None) -> Call:
        found = self.calls(method)
        if not found:
            raise AssertionError(f"no {method or ''} call recorded; calls: {self.call_names()}")
        return found[-1]

    def clear_calls(self) -> None:
        with self._cond:
            self._calls.clear()

    def _match_calls(
        self, method: str, predicate: Callable[[Call], bool] | None, answered: bool
    ) -> list[Call]:
        out = []
        for c in self._calls:
            if method != "*" and c.method.lower() != method.lower():
                continue
            if answered and c.answered_at is None:
                continue
            if predicate is not None and not predicate(c):
                continue
            out.append(c)
        return out

    def wait_call(
        self,
        method: str = "*",
        *,
        count: int = 1,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 2.0,
        answered: bool = True,
    ) -> Call:
        """Block until ``count`` matching calls were recorded (and answered); return the
        ``count``-th. Blocking: do not call it on the loop that runs the bot."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self._match_calls(method, predicate, answered)
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{count} x {method} not seen in {timeout}s; calls: "
                        f"{[c.method for c in self._calls]}"
                    )
                self._cond.wait(left)

    async def await_call(
        self,
        method: str = "*",
        *,
        count: int = 1,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 2.0,
        answered: bool = True,
    ) -> Call:
        """Asyncio version of :meth:`wait_call` (polls every 2 ms, never blocks the loop)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                found = self._match_calls(method, predicate, answered)
                if len(found) >= count:
                    return found[count - 1]
                names = [c.method for c in self._calls]
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{count} x {method} not seen in {timeout}s; calls: {names}")
            await asyncio.sleep(0.002)

    # ---------------------------------------------------------------- chats, topics, messages

    def add_chat(
        self,
        chat_id: int,
        *,
        title: str | None = None,
        is_forum: bool = False,
        chat_type: str | None = None,
    ) -> dict[str, Any]:
        with self._cond:
            if chat_type is None:
                chat_type = "private" if chat_id > 0 else "supergroup"
            chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                chat["first_name"] = self.user["first_name"]
                chat["username"] = self.user["username"]
            else:
                chat["title"] = title or f"chat {chat_id}"
                if is_forum:
                    chat["is_forum"] = True
            self._chats[chat_id] = chat
            self._msgs.setdefault(chat_id, {})
            self._next_mid.setdefault(chat_id, 2)  # 1 was "group created"
            return dict(chat)

    def add_topic(
        self, name: str, *, chat_id: int | None = None, icon_color: int = TOPIC_ICON_COLORS[0]
    ) -> int:
        """Create a topic as a human would; return its message_thread_id."""
        with self._cond:
            return self._create_topic(
                self._chat_or_raise(chat_id), name, icon_color, None, creator=self.user
            ).thread_id

    def topic(self, thread_id: int, *, chat_id: int | None = None) -> Topic:
        with self._cond:
            return copy.copy(self._topics[(chat_id or self.chat_id, thread_id)])

    def topics(self, *, chat_id: int | None = None, include_deleted: bool = False) -> list[Topic]:
        cid = chat_id or self.chat_id
        with self._cond:
            return [
                copy.copy(t)
                for (c, _), t in self._topics.items()
                if c == cid and (include_deleted or not t.deleted)
            ]

    def messages(
        self,
        chat_id: int | None = None,
        thread_id: Any = _ALL,
        *,
        include_service: bool = False,
        include_deleted: bool = False,
        from_bot: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Messages of a chat in order, as they look now (after edits). ``thread_id``: a topic
        id, ``None`` for the General topic / a chat without topics, or omitted for all."""
        cid = chat_id or self.chat_id
        with self._cond:
            out = []
            for st in self._msgs.get(cid, {}).values():
                if st.deleted and not include_deleted:
                    continue
                if st.service and not include_service:
                    continue
                if thread_id is not _ALL and st.thread_id != thread_id:
                    continue
                if from_bot is not None and st.from_bot != from_bot:
                    continue
                out.append(copy.deepcopy(st.data))
            return out

    def topic_messages(self, thread_id: int, *, chat_id: int | None = None) -> list[dict[str, Any]]:
        return self.messages(chat_id, thread_id)

    def topic_texts(self, thread_id: int | None, *, chat_id: int | None = None) -> list[str]:
        """What the topic shows: the text (or caption / file name) of each message, in order."""
        out = []
        for m in self.messages(chat_id, thread_id):
            if "text" in m:
                out.append(m["text"])
            elif "caption" in m:
                out.append(m["caption"])
            elif "document" in m:
                out.append(f"[document {m['document'].get('file_name')}]")
            else:
                out.append("")
        return out

    def message(self, message_id: int, *, chat_id: int | None = None) -> dict[str, Any]:
        with self._cond:
            return copy.deepcopy(self._msgs[chat_id or self.chat_id][message_id].data)

    def message_history(
        self, message_id: int, *, chat_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Earlier versions of an edited message, oldest first."""
        with self._cond:
            return copy.deepcopy(self._msgs[chat_id or self.chat_id][message_id].history)

    # ---------------------------------------------------------------- injection

    def inject_update(self, payload: dict[str, Any]) -> int:
        """Queue a raw update (``{"message": {...}}``); the ``update_id`` is assigned here."""
        with self._cond:
            uid = self._next_update_id
            self._next_update_id += 1
            update = {"update_id": uid, **copy.deepcopy(payload)}
            self._updates.append(update)
            self._cond.notify_all()
            return uid

    def inject_message(
        self,
        text: str,
        *,
        chat_id: int | None = None,
        thread_id: int | None = None,
        reply_to: int | None = None,
        user: dict[str, Any] | None = None,
        entities: list[dict[str, Any]] | None = None,
        edited_of: int | None = None,
    ) -> dict[str, Any]:
        """A human writes ``text`` (into topic ``thread_id``, optionally replying to message
        ``reply_to``). A leading ``/command`` gets its ``bot_command`` entity, as Telegram adds
        it (PTB's CommandHandler needs it). Returns the Message as queued.

        ``edited_of=<message_id>`` sends an ``edited_message`` update for that message instead.
        """
        with self._cond:
            cid = self._chat_or_raise(chat_id)
            chat = self._chats[cid]
            sender = dict(user or self.user)
            if entities is None:
                entities = []
                m = _BOT_COMMAND_IN_TEXT.match(text)
                if m:
                    entities = [{"type": "bot_command", "offset": 0, "length": _u16(m.group(0))}]
            if edited_of is not None:
                st = self._msgs[cid][edited_of]
                st.history.append(copy.deepcopy(st.data))
                st.data["text"] = text
                st.data["edit_date"] = int(time.time())
                if entities:
                    st.data["entities"] = entities
                else:
                    st.data.pop("entities", None)
                edited = copy.deepcopy(st.data)
                self._queue_update({"edited_message": edited})
                return edited
            topic_thread, reply_obj, general_thread = self._resolve_thread(
                cid, thread_id, reply_to, strict=True, allow_missing_reply=False
            )
            msg: dict[str, Any] = {
                "message_id": self._alloc_mid(cid),
                "from": sender,
                "chat": dict(chat),
                "date": int(time.time()),
            }
            self._apply_thread(msg, topic_thread, reply_obj, general_thread)
            msg["text"] = text
            if entities:
                msg["entities"] = entities
            self._store(cid, topic_thread, msg, from_bot=False)
            self._queue_update({"message": copy.deepcopy(msg)})
            return copy.deepcopy(msg)

    def inject_callback(
        self,
        message_id: int,
        data: str,
        *,
        chat_id: int | None = None,
        user: dict[str, Any] | None = None,
        check_button: bool = True,
    ) -> str:
        """A human presses the inline button with ``data`` under message ``message_id``.
        Returns the callback query id. By default the button must exist on the message."""
        with self._cond:
            cid = self._chat_or_raise(chat_id)
            st = self._msgs[cid].get(message_id)
            if st is None or st.deleted:
                raise ValueError(f"no message {message_id} in chat {cid}")
            if check_button:
                buttons = [
                    b.get("callback_data")
                    for row in st.data.get("reply_markup", {}).get("inline_keyboard", [])
                    for b in row
                ]
                if data not in buttons:
                    raise ValueError(f"message {message_id} has no button {data!r}: {buttons}")
            qid = str(next(self._callback_ids))
            query = {
                "id": qid,
                "from": dict(user or self.user),
                "message": copy.deepcopy(st.data),
                "chat_instance": str(-(abs(cid) * 7919 % 10**18)),
                "data": data,
            }
            self._callbacks[qid] = query
            self._queue_update({"callback_query": query})
            return qid

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by a getUpdates ``offset``."""
        with self._cond:
            return copy.deepcopy(self._updates)

    # ---------------------------------------------------------------- internals: state

    def _chat_or_raise(self, chat_id: int | str | None) -> int:
        if chat_id is None:
            return self.chat_id
        if isinstance(chat_id, str):
            try:
                chat_id = int(chat_id)
            except ValueError:
                raise _bad("chat not found") from None
        if chat_id not in self._chats:
            raise _bad("chat not found")
        return chat_id

    def _alloc_mid(self, chat_id: int) -> int:
        mid = self._next_mid[chat_id]
        self._next_mid[chat_id] = mid + 1
        return mid

    def _queue_update(self, payload: dict[str, Any]) -> None:
        update = {"update_id": self._next_update_id, **payload}
        self._next_update_id += 1
        self._updates.append(update)
        self._cond.notify_all()

    def _store(
        self,
        chat_id: int,
        thread_id: int | None,
        msg: dict[str, Any],
        *,
        from_bot: bool,
        service: bool = False,
    ) -> None:
        self._msgs[chat_id][msg["message_id"]] = _Stored(
            chat_id, thread_id, copy.deepcopy(msg), from_bot, service
        )
        self._cond.notify_all()

    def _create_topic(
        self,
        chat_id: int,
        name: str,
        icon_color: int,
        icon_custom_emoji_id: str | None,
        *,
        creator: dict[str, Any],
    ) -> Topic:
        chat = self._chats[chat_id]
        if not chat.get("is_forum"):
            raise _bad("the chat is not a forum")
        mid = self._alloc_mid(chat_id)
        topic = Topic(chat_id, mid, name, icon_color, icon_custom_emoji_id)
        self._topics[(chat_id, mid)] = topic
        created: dict[str, Any] = {"name": name, "icon_color": icon_color}
        if icon_custom_emoji_id:
            created["icon_custom_emoji_id"] = icon_custom_emoji_id
        service = {
            "message_id": mid,
            "from": dict(creator),
            "chat": dict(chat),
            "date": int(time.time()),
            "message_thread_id": mid,
            "forum_topic_created": created,
            "is_topic_message": True,
        }
        self._store(chat_id, mid, service, from_bot=creator.get("is_bot", False), service=True)
        return topic

    def _live_topic(self, chat_id: int, thread_id: Any) -> Topic:
        topic = self._topics.get((chat_id, thread_id)) if isinstance(thread_id, int) else None
        if topic is None or topic.deleted:
            raise _bad("message thread not found")
        return topic

    def _resolve_thread(
        self,
        chat_id: int,
        thread_id: int | None,
        reply_to: int | None,
        *,
        strict: bool,
        allow_missing_reply: bool,
    ) -> tuple[int | None, dict[str, Any] | None, int | None]:
        """Return (forum topic id or None, embedded reply_to_message or None,
        message_thread_id for a reply chain in General or None)."""
        chat = self._chats[chat_id]
        forum = bool(chat.get("is_forum"))
        reply_obj = None
        target: _Stored | None = None
        if reply_to is not None:
            target = self._msgs[chat_id].get(reply_to)
            if target is None or target.deleted:
                if not allow_missing_reply:
                    raise _bad("message to be replied not found")
                target = None
        if thread_id is not None and forum:
            if strict:
                self._live_topic(chat_id, thread_id)
        elif thread_id is not None and not forum:
            thread_id = None  # Telegram ignores it outside forums
        if thread_id is None and target is not None and target.thread_id is not None:
            thread_id = target.thread_id  # a reply lands in the target's topic
        if target is not None:
            reply_obj = copy.deepcopy(target.data)
            reply_obj.pop("reply_to_message", None)
        general_thread = None
        if forum and thread_id is None and target is not None:
            general_thread = target.data.get("message_thread_id", target.data["message_id"])
        return thread_id, reply_obj, general_thread

    def _apply_thread(
        self,
        msg: dict[str, Any],
        topic_thread: int | None,
        reply_obj: dict[str, Any] | None,
        general_thread: int | None,
    ) -> None:
        chat_id = msg["chat"]["id"]
        if topic_thread is not None:
            msg["message_thread_id"] = topic_thread
            if reply_obj is None:
                root = self._msgs[chat_id].get(topic_thread)
                if root is not None:
                    reply_obj = copy.deepcopy(root.data)
            msg["reply_to_message"] = reply_obj
            msg["is_topic_message"] = True
        elif reply_obj is not None:
            if general_thread is not None:
                msg["message_thread_id"] = general_thread
            msg["reply_to_message"] = reply_obj
        if msg.get("reply_to_message") is None:
            msg.pop("reply_to_message", None)

    # ---------------------------------------------------------------- HTTP entry point

    def _handle(self, h: _Handler) -> None:
        try:
            body = h.read_body()
        except (OSError, ValueError):
            h.close_connection = True
            return
        if self._down == "502":
            h.close_connection = True
            page = (
                b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
                b"</body>\r\n</html>\r\n"
            )
            with contextlib.suppress(OSError):
                h.send_bytes(502, page, "text/html")
            return
        path, _, query = h.path.partition("?")
        if path.startswith("/file/bot"):
            self._serve_file(h, path)
            return
        m = re.fullmatch(r"/bot([^/]*)/([A-Za-z0-9_]+)/?", path)
        if not m:
            self._reply(h, None, 404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        token, sent_method = m.groups()
        ctype = h.headers.get("Content-Type", "") or ""
        try:
            raw, files = self._parse_body(ctype, body, query)
        except ValueError as exc:
            self._reply(h, None, 400, _bad(f"can't parse request: {exc}").body())
            return
        params = {k: _decode_value(k, v) for k, v in raw.items()}
        method = _CANONICAL.get(sent_method.lower(), sent_method)
        impl = _IMPLS.get(method)
        with self._cond:
            call = Call(
                seq=next(self._seq),
                method=method,
                params=params,
                raw=raw,
                http_method=h.command,
                content_type=ctype.split(";")[0].strip(),
                files=files,
                t=time.monotonic(),
                wall=time.time(),
                token_ok=(token == self.token),
                unknown=impl is None,
            )
            self._calls.append(call)
            self._cond.notify_all()
            delay = self._delays.get(method.lower(), self._delays.get("*", 0.0))

        if not call.token_ok:
            self._reply(
                h, call, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            )
            return
        if delay:
            time.sleep(delay)
        fault = self._take_fault(method, params)
        if fault is not None:
            call.fault = fault.kind
            if fault.kind == "drop":
                h.close_connection = True
                with contextlib.suppress(OSError):
                    h.connection.shutdown(socket.SHUT_RDWR)
                self._mark_answered(call, None, None)
                return
            if fault.kind == "hang":
                release = self._hang_release
                release.wait(timeout=120)
                if self._stopping or self._server is None:
                    h.close_connection = True
                    return
            else:
                err = ApiError(fault.status, fault.description, fault.parameters)
                self._reply(h, call, fault.status, err.body())
                return
        if impl is None:
            if self.strict_methods:
                self._reply(
                    h, call, 404, {"ok": False, "error_code": 404, "description": "Not Found"}
                )
            else:
                self._reply(h, call, 200, {"ok": True, "result": True})
            return
        try:
            result = impl(self, params, files, call)
        except ApiError as err:
            self._reply(h, call, err.status, err.body())
            return
        except _NoAnswer:
            h.close_connection = True
            self._mark_answered(call, None, None)
            return
        except Exception as exc:  # a bug in the fake: answer 500 and keep serving
            self._reply(
                h,
                call,
                500,
                {"ok": False, "error_code": 500, "description": f"fake error: {exc!r}"},
            )
            return
        self._reply(h, call, 200, {"ok": True, "result": result})

    def _parse_body(
        self, ctype: str, body: bytes, query: str
    ) -> tuple[dict[str, Any], dict[str, tuple[str | None, bytes]]]:
        raw: dict[str, Any] = {}
        files: dict[str, tuple[str | None, bytes]] = {}
        if query:
            raw.update({k: v[-1] for k, v in urllib.parse.parse_qs(query).items()})
        kind = ctype.split(";")[0].strip().lower()
        if not body:
            return raw, files
        if kind == "application/json":
            doc = json.loads(body.decode("utf-8"))
            if not isinstance(doc, dict):
                raise ValueError("JSON body is not an object")
            raw.update(doc)
        elif kind == "multipart/form-data":
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body
            )
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if not name:
                    continue
                payload = part.get_payload(decode=True)
                if not isinstance(payload, bytes):
                    payload = b""
                filename = part.get_filename()
                if filename is not None:
                    files[str(name)] = (filename, payload)
                else:
                    raw[str(name)] = payload.decode("utf-8")
        else:  # application/x-www-form-urlencoded (PTB) or unlabelled
            text = body.decode("utf-8")
            raw.update(
                {k: v[-1] for k, v in urllib.parse.parse_qs(text, keep_blank_values=True).items()}
            )
        return raw, files

    def _reply(self, h: _Handler, call: Call | None, status: int, doc: dict[str, Any]) -> None:
        body = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        try:
            h.send_bytes(status, body, "application/json")
        except OSError:
            h.close_connection = True
            if call is not None:
                self._mark_answered(call, None, doc)
            return
        if call is not None:
            self._mark_answered(call, status, doc)

    def _mark_answered(self, call: Call, status: int | None, doc: dict[str, Any] | None) -> None:
        with self._cond:
            call.status = status
            call.response = doc
            call.answered_at = time.monotonic()
            self._cond.notify_all()

    def _serve_file(self, h: _Handler, path: str) -> None:
        prefix = f"/file/bot{self.token}/"
        path = urllib.parse.unquote(path)  # PTB quotes the whole path, ':' of the token too
        if path.startswith(prefix):
            file_path = path[len(prefix) :]
            with self._cond:
                for f in self.files.values():
                    if f["path"] == file_path:
                        with contextlib.suppress(OSError):
                            h.send_bytes(200, f["bytes"], "application/octet-stream")
                        return
        self._reply(h, None, 404, {"ok": False, "error_code": 404, "description": "Not Found"})

    # ---------------------------------------------------------------- methods

    def _m_get_me(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        return dict(self.bot_user)

    def _m_get_updates(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        offset = p.get("offset")
        limit = p.get("limit") or 100
        timeout = p.get("timeout") or 0
        if not isinstance(timeout, int | float) or timeout < 0:
            timeout = 0
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            limit = 100
        deadline = time.monotonic() + float(timeout)
        with self._cond:
            if self._webhook_url:
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; use "
                    "deleteWebhook to delete it first",
                )
            allowed = p.get("allowed_updates")
            if isinstance(allowed, list):
                self._allowed_updates = frozenset(allowed) if allowed else _DEFAULT_ALLOWED
            self._poll_generation += 1
            generation = self._poll_generation
            self._cond.notify_all()  # an older held poll must now answer 409
            if isinstance(offset, int) and offset != 0:
                if offset > 0:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                else:
                    self._updates = self._updates[offset:]
            while True:
                ready = [
                    u
                    for u in self._updates
                    if any(k in self._allowed_updates for k in u if k != "update_id")
                ][:limit]
                if ready:
                    return copy.deepcopy(ready)
                if self._stopping or self._down == "refuse":
                    raise _NoAnswer()
                if self._poll_generation != generation:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that only "
                        "one bot instance is running",
                    )
                if self._down == "502":
                    raise ApiError(502, "Bad Gateway")
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._cond.wait(left)

    def _check_reply_markup(self, markup: Any) -> dict[str, Any] | None:
        """Validate; return what the Message will carry (inline keyboards only)."""
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            return None  # reply keyboards / force_reply are not echoed in the Message
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise _bad(
                'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
            )
        for row in rows:
            for b in row:
                if not isinstance(b, dict) or not b.get("text"):
                    raise _bad('can\'t find field "text"')
                if "callback_data" in b:
                    data = b["callback_data"]
                    if (
                        not isinstance(data, str)
                        or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES
                    ):
                        raise _bad("BUTTON_DATA_INVALID")
        return copy.deepcopy(markup)

    def _check_text(self, text: Any, parse_mode: Any, *, what: str = "message text") -> str:
        """Validate like Telegram; return the text as the chat shows it (markup parsed)."""
        if not isinstance(text, str) or not text.strip():
            raise _bad(f"{what} is empty")
        plain = text
        if parse_mode and self.validate_markup:
            err, plain = check_markup(text, str(parse_mode))
            if err:
                raise _bad(f"can't parse entities: {err}")
            if not plain.strip():
                raise _bad("text must be non-empty")
        if len(plain) > MAX_MESSAGE_LENGTH:
            raise _bad("message is too long")
        return plain

    def _reply_target(self, p: dict[str, Any]) -> tuple[int | None, bool]:
        rp = p.get("reply_parameters")
        if isinstance(rp, dict) and "message_id" in rp:
            return int(rp["message_id"]), bool(rp.get("allow_sending_without_reply"))
        if p.get("reply_to_message_id") is not None:
            return int(p["reply_to_message_id"]), bool(p.get("allow_sending_without_reply"))
        return None, False

    def _new_bot_message(
        self, p: dict[str, Any], body: dict[str, Any], source: tuple[str, str | None] | None = None
    ) -> dict[str, Any]:
        with self._cond:
            cid = self._chat_or_raise(p.get("chat_id"))
            thread = p.get("message_thread_id")
            reply_to, lenient = self._reply_target(p)
            topic_thread, reply_obj, general_thread = self._resolve_thread(
                cid, thread, reply_to, strict=True, allow_missing_reply=lenient
            )
            if topic_thread is not None:
                topic = self._live_topic(cid, topic_thread)
                if topic.closed and not self.bot_can_post_in_closed_topics:
                    raise _bad("TOPIC_CLOSED")
            markup = self._check_reply_markup(p.get("reply_markup"))
            msg: dict[str, Any] = {
                "message_id": self._alloc_mid(cid),
                "from": dict(self.bot_user),
                "chat": dict(self._chats[cid]),
                "date": int(time.time()),
            }
            self._apply_thread(msg, topic_thread, reply_obj, general_thread)
            msg.update(body)
            if markup is not None:
                msg["reply_markup"] = markup
            self._store(cid, topic_thread, msg, from_bot=True)
            self._msgs[cid][msg["message_id"]].source = source
            return copy.deepcopy(msg)

    def _m_send_message(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        shown = self._check_text(p.get("text"), p.get("parse_mode"))
        return self._new_bot_message(p, {"text": shown}, (p["text"], p.get("parse_mode")))

    def _m_send_document(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        upload = files.get("document")
        if upload is None and isinstance(p.get("document"), str):
            ref = p["document"]
            if ref.startswith("attach://"):
                upload = files.get(ref[len("attach://") :])
            elif ref in self.files:
                f = self.files[ref]
                upload = (f["name"], f["bytes"])
        if upload is None:
            raise _bad("there is no document in the request")
        caption = p.get("caption")
        if caption is not None:
            caption = self._check_text(caption, p.get("parse_mode"), what="caption")
        name, content = upload
        with self._cond:
            n = next(self._file_ids)
            file_id = f"BQACAgIAAxkDAAI{n:06d}fake"
            self.files[file_id] = {
                "name": name,
                "bytes": content,
                "path": f"documents/file_{n}{_suffix(name)}",
                "unique": f"AgAD{n:06d}",
            }
        doc = {
            "file_name": name or "document",
            "mime_type": "text/plain"
            if (name or "").endswith(".txt")
            else "application/octet-stream",
            "file_id": file_id,
            "file_unique_id": f"AgAD{n:06d}",
            "file_size": len(content),
        }
        body: dict[str, Any] = {"document": doc}
        if caption:
            body["caption"] = caption
        return self._new_bot_message(p, body)

    def _m_get_file(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        with self._cond:
            f = self.files.get(str(p.get("file_id")))
            if f is None:
                raise _bad("invalid file_id")
            return {
                "file_id": p["file_id"],
                "file_unique_id": f["unique"],
                "file_size": len(f["bytes"]),
                "file_path": f["path"],
            }

    def _stored_bot_message(self, p: dict[str, Any], *, editing: bool = True) -> _Stored:
        cid = self._chat_or_raise(p.get("chat_id"))
        mid = p.get("message_id")
        st = self._msgs[cid].get(mid) if isinstance(mid, int) else None
        if st is None or st.deleted:
            raise _bad("message to edit not found" if editing else "message to delete not found")
        if editing and not st.from_bot:
            raise _bad("message can't be edited")
        return st

    def _m_edit_message_text(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        if p.get("inline_message_id"):
            return True
        shown = self._check_text(p.get("text"), p.get("parse_mode"))
        source = (p["text"], p.get("parse_mode"))
        with self._cond:
            st = self._stored_bot_message(p)
            markup = self._check_reply_markup(p.get("reply_markup"))
            same_text = st.source == source if st.source else st.data.get("text") == shown
            if same_text and st.data.get("reply_markup") == markup:
                raise _bad(_NOT_MODIFIED)
            st.history.append(copy.deepcopy(st.data))
            st.source = source
            st.data["text"] = shown
            st.data["edit_date"] = int(time.time())
            # Telegram drops the inline keyboard unless the edit sends it again.
            if markup is None:
                st.data.pop("reply_markup", None)
            else:
                st.data["reply_markup"] = markup
            self._cond.notify_all()
            return copy.deepcopy(st.data)

    def _m_edit_message_reply_markup(
        self, p: dict[str, Any], files: dict[str, Any], call: Call
    ) -> Any:
        if p.get("inline_message_id"):
            return True
        with self._cond:
            st = self._stored_bot_message(p)
            markup = self._check_reply_markup(p.get("reply_markup"))
            if st.data.get("reply_markup") == markup:
                raise _bad(_NOT_MODIFIED)
            st.history.append(copy.deepcopy(st.data))
            st.data["edit_date"] = int(time.time())
            if markup is None:
                st.data.pop("reply_markup", None)
            else:
                st.data["reply_markup"] = markup
            self._cond.notify_all()
            return copy.deepcopy(st.data)

    def _m_delete_message(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        with self._cond:
            st = self._stored_bot_message(p, editing=False)
            st.deleted = True
            self._cond.notify_all()
            return True

    def _m_send_chat_action(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        with self._cond:
            cid = self._chat_or_raise(p.get("chat_id"))
            if p.get("message_thread_id") is not None:
                self._live_topic(cid, p["message_thread_id"])
        return True

    def _m_answer_callback_query(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        with self._cond:
            qid = str(p.get("callback_query_id"))
            if qid not in self._callbacks:
                raise _bad("query is too old and response timeout expired or query ID is invalid")
            del self._callbacks[qid]
            self.callback_answers[qid] = dict(p)
            self._cond.notify_all()
            return True

    def _m_create_forum_topic(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        name = p.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _bad("TOPIC_TITLE_EMPTY")  # name must be 1-128 characters
        if len(name) > 128:
            raise _bad("TOPIC_TITLE_INVALID")
        color = p.get("icon_color", TOPIC_ICON_COLORS[0])
        if color not in TOPIC_ICON_COLORS:
            raise _bad("TOPIC_ICON_COLOR_INVALID")
        with self._cond:
            cid = self._chat_or_raise(p.get("chat_id"))
            topic = self._create_topic(
                cid, name, color, p.get("icon_custom_emoji_id"), creator=self.bot_user
            )
            out: dict[str, Any] = {
                "message_thread_id": topic.thread_id,
                "name": topic.name,
                "icon_color": topic.icon_color,
            }
            if topic.icon_custom_emoji_id:
                out["icon_custom_emoji_id"] = topic.icon_custom_emoji_id
            return out

    def _topic_for_edit(self, p: dict[str, Any]) -> Topic:
        cid = self._chat_or_raise(p.get("chat_id"))
        if not self._chats[cid].get("is_forum"):
            raise _bad("the chat is not a forum")
        topic = self._topics.get((cid, p.get("message_thread_id")))  # type: ignore[arg-type]
        if topic is None or topic.deleted:
            raise _bad("TOPIC_ID_INVALID")
        return topic

    def _m_edit_forum_topic(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        with self._cond:
            topic = self._topic_for_edit(p)
            changed = False
            name = p.get("name")
            if name is not None:
                if not isinstance(name, str) or not name.strip() or len(name) > 128:
                    raise _bad("TOPIC_TITLE_INVALID")
                changed |= name != topic.name
                topic.name = name
            if "icon_custom_emoji_id" in p:
                emoji = p.get("icon_custom_emoji_id") or None
                changed |= emoji != topic.icon_custom_emoji_id
                topic.icon_custom_emoji_id = emoji
            if not changed:
                raise _bad("TOPIC_NOT_MODIFIED")
            return True

    def _m_close_forum_topic(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        with self._cond:
            topic = self._topic_for_edit(p)
            if topic.closed:
                raise _bad("TOPIC_NOT_MODIFIED")
            topic.closed = True
            return True

    def _m_reopen_forum_topic(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        with self._cond:
            topic = self._topic_for_edit(p)
            if not topic.closed:
                raise _bad("TOPIC_NOT_MODIFIED")
            topic.closed = False
            return True

    def _m_delete_forum_topic(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        with self._cond:
            topic = self._topic_for_edit(p)
            topic.deleted = True
            for st in self._msgs[topic.chat_id].values():
                if st.thread_id == topic.thread_id:
                    st.deleted = True
            self._cond.notify_all()
            return True

    def delete_topic(self, thread_id: int, *, chat_id: int | None = None) -> None:
        """A human deletes a topic (and all its messages)."""
        with self._cond:
            self._m_delete_forum_topic(
                {"chat_id": chat_id or self.chat_id, "message_thread_id": thread_id},
                {},
                None,  # type: ignore[arg-type]
            )

    def close_topic(self, thread_id: int, *, chat_id: int | None = None) -> None:
        """A human closes a topic."""
        with self._cond:
            self._topics[(chat_id or self.chat_id, thread_id)].closed = True

    def _m_delete_webhook(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        with self._cond:
            self._webhook_url = ""
            if p.get("drop_pending_updates"):
                self._updates.clear()
            return True

    def _m_set_webhook(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        with self._cond:
            self._webhook_url = str(p.get("url") or "")
            if p.get("drop_pending_updates"):
                self._updates.clear()
            return True

    def _m_get_webhook_info(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        with self._cond:
            return {
                "url": self._webhook_url,
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }

    @staticmethod
    def _commands_key(p: dict[str, Any]) -> str:
        scope = p.get("scope") or {"type": "default"}
        return json.dumps([scope, p.get("language_code") or ""], sort_keys=True)

    def _m_set_my_commands(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        commands = p.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad(
                "BOT_COMMANDS_TOO_MUCH" if isinstance(commands, list) else "commands are empty"
            )
        for c in commands:
            if not isinstance(c, dict) or not _COMMAND_RE.match(str(c.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(c.get("description", ""))) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        with self._cond:
            self.commands[self._commands_key(p)] = copy.deepcopy(commands)
            return True

    def _m_get_my_commands(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        with self._cond:
            return copy.deepcopy(self.commands.get(self._commands_key(p), []))

    def _m_delete_my_commands(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        with self._cond:
            self.commands.pop(self._commands_key(p), None)
            return True

    def _m_get_chat(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        with self._cond:
            cid = self._chat_or_raise(p.get("chat_id"))
            info = dict(self._chats[cid])
        info.update(
            {
                "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": False,
                    "limited_gifts": False,
                    "unique_gifts": False,
                    "premium_subscription": False,
                    "gifts_from_channels": False,
                },
            }
        )
        return info

    def _m_log_out(self, p: dict[str, Any], files: dict[str, Any], call: Call) -> Any:
        return True


class _NoAnswer(Exception):
    """Close the connection without answering (server going away)."""


def _u16(s: str) -> int:
    """Length in UTF-16 code units: Telegram's unit for entity offsets and lengths."""
    return len(s.encode("utf-16-le")) // 2


def _suffix(name: str | None) -> str:
    if name and "." in name:
        return "." + name.rsplit(".", 1)[1]
    return ""


_IMPLS: dict[str, Callable[[FakeBotApi, dict[str, Any], dict[str, Any], Call], Any]] = {
    "getMe": FakeBotApi._m_get_me,
    "getUpdates": FakeBotApi._m_get_updates,
    "sendMessage": FakeBotApi._m_send_message,
    "sendDocument": FakeBotApi._m_send_document,
    "getFile": FakeBotApi._m_get_file,
    "editMessageText": FakeBotApi._m_edit_message_text,
    "editMessageReplyMarkup": FakeBotApi._m_edit_message_reply_markup,
    "deleteMessage": FakeBotApi._m_delete_message,
    "sendChatAction": FakeBotApi._m_send_chat_action,
    "answerCallbackQuery": FakeBotApi._m_answer_callback_query,
    "createForumTopic": FakeBotApi._m_create_forum_topic,
    "editForumTopic": FakeBotApi._m_edit_forum_topic,
    "closeForumTopic": FakeBotApi._m_close_forum_topic,
    "reopenForumTopic": FakeBotApi._m_reopen_forum_topic,
    "deleteForumTopic": FakeBotApi._m_delete_forum_topic,
    "deleteWebhook": FakeBotApi._m_delete_webhook,
    "setWebhook": FakeBotApi._m_set_webhook,
    "getWebhookInfo": FakeBotApi._m_get_webhook_info,
    "setMyCommands": FakeBotApi._m_set_my_commands,
    "getMyCommands": FakeBotApi._m_get_my_commands,
    "deleteMyCommands": FakeBotApi._m_delete_my_commands,
    "getChat": FakeBotApi._m_get_chat,
    "logOut": FakeBotApi._m_log_out,
}
# Telegram matches method names case-insensitively.
_CANONICAL = {name.lower(): name for name in _IMPLS}
