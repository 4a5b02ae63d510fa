"""Scripted fake model servers for end-to-end tests of the real agent CLIs.

Two servers, stdlib only, listening on 127.0.0.1 (port 0, background thread):

* :class:`AnthropicServer` — the Anthropic Messages API as Claude Code uses it
  (``POST /v1/messages[?beta=true]``, streaming SSE or plain JSON, plus
  ``POST /v1/messages/count_tokens``).
* :class:`OpenAIResponsesServer` — the OpenAI Responses API as Codex uses it
  (``POST /v1/responses`` SSE, plus ``GET /v1/models``).

Both take the same **script**: a list of :class:`Turn`. A turn starts when the latest user
prompt contains ``Turn.match``; its ``reply`` is a list of items:

* :class:`Text` — assistant text;
* :class:`Bash` — a shell tool call (Claude ``Bash {command, description}``, Codex
  ``exec_command {cmd}``);
* :class:`Write` — write a file (Claude ``Write {file_path, content}``; Codex has no write tool,
  so it becomes an ``exec_command`` that writes the file);
* :class:`Tool` — any other tool call, given by name and input, sent verbatim (for the
  Responses API optionally in a tool ``namespace``: Codex's MCP tools);
* :class:`Sleep` — pause the stream here (the agent looks busy meanwhile);
* :class:`Fail` — answer this request with an HTTP error instead (no usage).

One model response carries the items up to and including the first tool call. The agent runs
the tool and sends its result; that request continues the same turn with the next items. The
response with no tool call left ends the turn (``end_turn`` / ``completed``). So::

    Turn(match="build", reply=[Bash("make"), Text("built")])

answers the prompt "please build" with a ``Bash`` call, then, when the ``tool_result`` arrives,
with the text "built", which the agent reports as its last assistant message.

Requests that do not belong to the main conversation — title generation, quota probes, any
request that offers the model no tools — are *side requests*: they get a short text answer
(:attr:`side_reply`) and never consume a script turn. A prompt that matches no unused turn gets
:attr:`default_reply`.

How the latest prompt is found: Claude Code — the text blocks of the last ``user`` message,
``<system-reminder>`` blocks left out (a pasted block arrives wrapped in
``<pasted_content id="…">``); Codex — the last ``user`` message in ``input``. After an
interrupt, Claude Code sends the next prompt in the same user message as the cancelled
``tool_result`` plus a ``[Request interrupted by user…]`` text: that starts a new turn. A
message typed while a tool runs arrives as extra text beside the ``tool_result`` ("The user
sent a new message while you were working: …"): the turn continues, the text is recorded.

Every request is recorded in :attr:`requests` (method, path, headers, parsed JSON body, how it
was classified, the prompt) so a test can assert what the model saw; :meth:`wait_for` blocks
until a matching request arrives. ``port=`` pins the port (e.g. to restart a server under a
running agent).

**Usage.** Every model response reports known, varied token counts — the *n*-th response's
come from :func:`anthropic_usage` / :func:`openai_usage` (input, cache writes of both
lifetimes, cache reads, output, reasoning; streamed the way the APIs do: a partial
``output_tokens`` first, the final one at the end) — and records them on its request
(:attr:`RecordedRequest.usage`). :meth:`usage_sum` is the server's own total for any set of
requests: the ground truth a usage meter must reproduce token for token.
Each request also records when its response ended (:attr:`RecordedRequest.finished`)
and how (:attr:`RecordedRequest.stop`): the turn ended, a tool call follows, or the client went
away first (an interrupt) — a client that hangs up during a :class:`Sleep` is noticed at once.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import select
import shlex
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit

__all__ = [
    "Fail",
    "anthropic_usage",
    "openai_usage",
    "Text",
    "Bash",
    "Write",
    "Tool",
    "Sleep",
    "Item",
    "Turn",
    "RecordedRequest",
    "AnthropicServer",
    "OpenAIResponsesServer",
]


# --------------------------------------------------------------------------------------------
# Script items
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """Assistant text. Streamed in a few deltas."""

    text: str


@dataclass(frozen=True)
class Bash:
    """A shell command tool call (Claude ``Bash``, Codex ``exec_command``)."""

    command: str
    description: str = "Run a shell command"
    timeout_ms: int | None = None


@dataclass(frozen=True)
class Write:
    """Write ``content`` to ``path`` (Claude ``Write``; Codex: an ``exec_command``)."""

    path: str
    content: str


@dataclass(frozen=True)
class Tool:
    """Any tool call, sent verbatim: ``name`` and its ``input`` (arguments) object.

    ``namespace`` (Responses API only) calls a tool the request offered inside a
    ``{type: "namespace"}`` tool group: the ``function_call`` item carries it beside the
    tool's own ``name`` — Codex offers each MCP server's tools so, as namespace
    ``mcp__<server>``. The Messages API has no namespaces.
    """

    name: str
    input: dict[str, Any]
    namespace: str = ""


@dataclass(frozen=True)
class Sleep:
    """Pause the response stream for ``seconds`` at this point."""

    seconds: float


@dataclass(frozen=True)
class Fail:
    """Answer the request with this HTTP error (the API's error shape) instead of a
    response, and its next ``repeat - 1`` retries (same prompt) too. The turn ends there:
    the items after it are never sent. ``headers``: sent with it (``retry-after`` …)."""

    status: int = 400
    type: str = "invalid_request_error"
    message: str = "scripted failure"
    repeat: int = 1
    headers: tuple[tuple[str, str], ...] = ()


Item = Text | Bash | Write | Tool | Sleep | Fail
TOOL_ITEMS = (Bash, Write, Tool)


def anthropic_usage(n: int) -> dict[str, int]:
    """The n-th response's usage (Anthropic names): every kind of token, varied, often 0."""
    write_5m = 1000 + 11 * n if n % 3 == 0 else 0
    write_1h = 2000 + 7 * n if n % 4 == 1 else 0
    return {
        "input_tokens": 100 + (37 * n) % 400,
        "cache_creation_input_tokens": write_5m + write_1h,
        "ephemeral_5m_input_tokens": write_5m,
        "ephemeral_1h_input_tokens": write_1h,
        "cache_read_input_tokens": 3000 + 13 * n if n % 2 == 0 else 0,
        "output_tokens": 20 + (29 * n) % 300,
    }


def openai_usage(n: int) -> dict[str, int]:
    """The n-th response's usage (Responses API names; input includes the cached part)."""
    input_tokens = 2000 + (37 * n) % 500
    output = 20 + (29 * n) % 300
    return {
        "input_tokens": input_tokens,
        "cached_tokens": min(input_tokens, 1500 + 13 * n) if n % 2 == 0 else 0,
        "output_tokens": output,
        "reasoning_tokens": output // 2 if n % 3 == 0 else 0,
    }


@dataclass
class Turn:
    """One scripted turn.

    ``match`` — a substring the latest user prompt must contain (``""`` matches any prompt), or
    a callable taking the prompt text. ``times`` — how many prompts this turn answers
    (``None``: unlimited). Turns are tried in script order; the first unused match wins.
    """

    match: str | Callable[[str], bool]
    reply: list[Item]
    times: int | None = 1
    used: int = field(default=0, compare=False)

    def matches(self, prompt: str) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        if callable(self.match):
            return bool(self.match(prompt))
        return self.match in prompt


@dataclass
class RecordedRequest:
    """One HTTP request as the server saw it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or raw text when not JSON, or None
    # "turn", "continue", "default", "retry" (of a scripted failure), "side", "count_tokens",
    # "models", "other"
    kind: str = ""
    prompt: str = ""  # latest user prompt text (for message requests)
    turn: Turn | None = None
    t: float = 0.0  # time.monotonic() at arrival
    usage: dict[str, int] = field(default_factory=dict)  # what its response reported
    failed: int = 0  # the HTTP status of a scripted failure, else 0
    #: time.monotonic() when the response was written in full, or the client went away
    finished: float | None = None
    #: how the response ended: "end_turn" (the model's turn is over), "tool_use" (the agent
    #: runs a tool and the turn goes on), "aborted" (the client hung up first), "failed" (a
    #: scripted API error was answered)
    stop: str = ""

    @property
    def raw_json(self) -> str:
        return json.dumps(self.body)

    @property
    def ended_turn(self) -> bool:
        """This response, written in full, ended the model's turn."""
        return self.stop == "end_turn"


@dataclass
class _Cursor:
    """Where a turn is: the next reply item to send."""

    turn: Turn | None
    items: list[Item]
    index: int


# --------------------------------------------------------------------------------------------
# Common server machinery
# --------------------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-model/1"
    owner: _ScriptedServer  # set on a per-server subclass

    def setup(self) -> None:
        super().setup()
        # Without TCP_NODELAY, Nagle + delayed ACK costs ~40 ms per small write on loopback.
        with contextlib.suppress(OSError):
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.owner.verbose:
            super().log_message(format, *args)

    # -- plumbing -----------------------------------------------------------------------------

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                raw += self.rfile.read(size)
                self.rfile.readline()
        else:
            raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        enc = self.headers.get("Content-Encoding", "").lower()
        if enc == "gzip":
            import gzip

            raw = gzip.decompress(raw)
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    def send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def start_sse(self, headers: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()

    def sse(self, event: str, data: dict[str, Any]) -> None:
        payload = f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        self.wfile.flush()

    def end_sse(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        body = self._read_body() if method in ("POST", "PUT", "PATCH") else None
        req = RecordedRequest(
            method=method,
            path=parts.path,
            query=parts.query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            t=time.monotonic(),
        )
        # The client may go away mid-stream (e.g. the user pressed Escape).
        with contextlib.suppress(ConnectionError):
            self.owner._handle(self, req)

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")


class _ScriptedServer:
    """Base: lifecycle, script bookkeeping and request recording."""

    #: Short text answer to side requests (titles, quota probes, tool-less calls).
    side_reply = "Scripted session"

    def __init__(
        self,
        script: Iterable[Turn] = (),
        *,
        default_reply: Iterable[Item] | str = "OK.",
        side_reply: str | None = None,
        chunk_size: int = 40,
        port: int = 0,
        verbose: bool = False,
    ) -> None:
        self.script: list[Turn] = list(script)
        if isinstance(default_reply, str):
            default_reply = [Text(default_reply)]
        self.default_reply: list[Item] = list(default_reply)
        if side_reply is not None:
            self.side_reply = side_reply
        self.chunk_size = chunk_size
        self.requested_port = port
        self.verbose = verbose
        self.requests: list[RecordedRequest] = []
        self._cursors: dict[str, _Cursor] = {}  # tool call id -> where the turn continues
        self._failing: dict[str, tuple[Fail, int]] = {}  # prompt -> failure, retries left
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._ids = itertools.count(1)
        self._responses = itertools.count(1)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        handler = type("Handler", (_Handler,), {"owner": self})
        self._httpd = _HTTPServer(("127.0.0.1", self.requested_port), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    # -- script -------------------------------------------------------------------------------

    def add(self, *turns: Turn) -> None:
        """Append turns to the script (safe while running)."""
        with self._lock:
            self.script.extend(turns)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):04d}{uuid.uuid4().hex[:16]}"

    def _start_turn(self, prompt: str) -> _Cursor:
        """Pick the first unused turn matching ``prompt`` (lock held)."""
        for turn in self.script:
            if turn.matches(prompt):
                turn.used += 1
                return _Cursor(turn, list(turn.reply), 0)
        return _Cursor(None, list(self.default_reply), 0)

    @staticmethod
    def _next_segment(cur: _Cursor) -> tuple[list[Item], bool]:
        """Items up to and including the next tool call; ``True`` if that ends the turn."""
        out: list[Item] = []
        while cur.index < len(cur.items):
            item = cur.items[cur.index]
            if isinstance(item, Fail):
                if not out:  # a failure is a segment of its own
                    cur.index += 1
                    return [item], False
                return out, False
            cur.index += 1
            out.append(item)
            if isinstance(item, TOOL_ITEMS):
                return out, False
        return out, True

    def _record(self, req: RecordedRequest) -> None:
        with self._cond:
            self.requests.append(req)
            self._cond.notify_all()

    def _sleep(self, seconds: float, h: _Handler | None = None) -> None:
        """Pause a response; with ``h``, raise ``ConnectionResetError`` as soon as its client
        hangs up (an agent interrupted mid-stream closes the connection)."""
        if h is None:
            self._stop.wait(seconds)
            return
        deadline = time.monotonic() + seconds
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            readable, _, _ = select.select([h.connection], [], [], min(left, 0.05))
            if not readable:
                continue
            try:
                peeked = h.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            if not peeked:
                raise ConnectionResetError("the client went away mid-response")
            self._stop.wait(max(0.0, deadline - time.monotonic()))  # bytes, not a hang-up
            return

    def _finish(self, req: RecordedRequest, stop: str) -> None:
        with self._cond:
            req.finished = time.monotonic()
            req.stop = stop
            self._cond.notify_all()

    def _respond(self, req: RecordedRequest, stop: str, write: Callable[[], None]) -> None:
        """Write a response; record when and how it ended (``aborted``: the client left)."""
        try:
            write()
        except ConnectionError:
            self._finish(req, "aborted")
            raise
        self._finish(req, stop)

    def _chunks(self, text: str) -> list[str]:
        n = max(1, self.chunk_size)
        return [text[i : i + n] for i in range(0, len(text), n)] or [""]

    # -- queries for tests --------------------------------------------------------------------

    def conversation_requests(self) -> list[RecordedRequest]:
        """Requests of the main conversation (script turns, continuations, defaults)."""
        return [r for r in self.requests if r.kind in ("turn", "continue", "default")]

    def usage_sum(
        self, kinds: Iterable[str] = ("turn", "continue", "default"),
        where: Callable[[RecordedRequest], bool] = lambda r: True,
    ) -> dict[str, int]:
        """The server's own total of the usage it reported, over the requests of ``kinds``
        that satisfy ``where``; ``responses`` counts them."""
        total: dict[str, int] = {"responses": 0}
        kinds = set(kinds)
        with self._lock:
            for r in self.requests:
                if r.kind in kinds and r.usage and where(r):
                    total["responses"] += 1
                    for k, v in r.usage.items():
                        total[k] = total.get(k, 0) + v
        return total

    def _next_usage(self) -> int:
        return next(self._responses)

    def _retry_failure(self, prompt: str) -> Fail | None:
        """A scripted failure still owed to a retry of ``prompt`` (lock held)."""
        fail, left = self._failing.get(prompt, (None, 0))
        if fail is None or left <= 0:
            return None
        self._failing[prompt] = (fail, left - 1)
        return fail

    def _failure(self, req: RecordedRequest, segment: list[Item]) -> Fail | None:
        """The failure this request gets, if any; usage for it otherwise (lock held)."""
        fail = segment[0] if segment and isinstance(segment[0], Fail) else None
        if fail is not None and req.kind != "retry":
            self._failing[req.prompt] = (fail, fail.repeat - 1)
        return fail

    def prompts(self) -> list[str]:
        """Latest-user-prompt texts of the requests that started a turn."""
        return [r.prompt for r in self.requests if r.kind in ("turn", "default")]

    def wait_for(
        self, predicate: Callable[[RecordedRequest], bool], timeout: float = 10.0
    ) -> RecordedRequest:
        """Block until a recorded request satisfies ``predicate``; return it."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for r in self.requests[seen:]:
                    if predicate(r):
                        return r
                seen = len(self.requests)
                left = deadline - time.monotonic()
                if left <= 0:
                    kinds = [(r.method, r.path, r.kind) for r in self.requests]
                    raise TimeoutError(f"no matching request in {timeout}s; saw {kinds}")
                self._cond.wait(left)

    def _handle(self, h: _Handler, req: RecordedRequest) -> None:  # pragma: no cover
        raise NotImplementedError


# --------------------------------------------------------------------------------------------
# Anthropic Messages API
# --------------------------------------------------------------------------------------------


def _anthropic_text_of(content: Any, *, skip_reminders: bool) -> str:
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content or []:
        if isinstance(block, dict) and block.get("type") == "text":
            text = block.get("text", "")
            if skip_reminders and text.lstrip().startswith("<system-reminder>"):
                continue
            parts.append(text)
    return "\n".join(parts)


#: Text Claude Code puts before the next prompt after an interrupted turn.
INTERRUPTED = "[Request interrupted by user"


class AnthropicServer(_ScriptedServer):
    """Fake Anthropic Messages API (what Claude Code talks to via ``ANTHROPIC_BASE_URL``).

    A request is a *side request* when it offers no tools (title/summary generation, the
    ``max_tokens: 1`` quota probe on the small model, …). Otherwise the last ``user`` message
    decides: if it carries ``tool_result`` blocks whose ``tool_use_id`` we issued, the turn
    continues; else its text is the prompt that starts a new turn.
    """

    model = "claude-sonnet-4-5"

    @staticmethod
    def is_side_request(body: dict[str, Any]) -> bool:
        return not body.get("tools")

    @staticmethod
    def latest_prompt(body: dict[str, Any]) -> str:
        """Text of the last user message, ``<system-reminder>`` blocks left out."""
        for msg in reversed(body.get("messages") or []):
            if msg.get("role") == "user":
                text = _anthropic_text_of(msg.get("content"), skip_reminders=True)
                return text or _anthropic_text_of(msg.get("content"), skip_reminders=False)
        return ""

    @staticmethod
    def _tool_result_ids(body: dict[str, Any]) -> list[str]:
        """``tool_use_id``s of the ``tool_result`` blocks in the last user message."""
        for msg in reversed(body.get("messages") or []):
            if msg.get("role") != "user":
                continue  # Claude Code may put a "system" message after the prompt
            content = msg.get("content")
            if not isinstance(content, list):
                return []
            return [
                b.get("tool_use_id", "")
                for b in content
                if isinstance(b, dict) and b.get("type") == "tool_result"
            ]
        return []

    def _handle(self, h: _Handler, req: RecordedRequest) -> None:
        path = req.path.rstrip("/")
        if req.method == "POST" and path == "/v1/messages/count_tokens":
            req.kind = "count_tokens"
            self._record(req)
            size = len(json.dumps(req.body or {}))
            h.send_json(200, {"input_tokens": max(1, size // 4)})
            return
        if req.method == "GET" and path == "/v1/models":
            req.kind = "models"
            self._record(req)
            h.send_json(
                200,
                {
                    "data": [
                        {
                            "type": "model",
                            "id": self.model,
                            "display_name": "Scripted",
                            "created_at": "2025-01-01T00:00:00Z",
                        }
                    ],
                    "has_more": False,
                    "first_id": self.model,
                    "last_id": self.model,
                },
            )
            return
        if req.method != "POST" or path != "/v1/messages" or not isinstance(req.body, dict):
            req.kind = "other"
            self._record(req)
            h.send_json(
                404, {"type": "error", "error": {"type": "not_found_error", "message": "no"}}
            )
            return

        body = req.body
        req.prompt = self.latest_prompt(body)
        with self._lock:
            if self.is_side_request(body):
                req.kind = "side"
                cur = _Cursor(None, [Text(self.side_reply)], 0)
            else:
                ids = self._tool_result_ids(body)
                found = next((self._cursors.pop(i) for i in ids if i in self._cursors), None)
                # After an interrupt (Escape, or a refused permission) Claude Code sends the
                # next prompt in the same user message as the cancelled tool_result and an
                # "[Request interrupted by user…]" text: that is a new turn.
                if INTERRUPTED in req.prompt:
                    found = None
                    ids = []
                if found is not None:
                    req.kind, cur = "continue", found
                elif ids:  # a tool result we did not issue (e.g. resumed history)
                    req.kind, cur = "continue", _Cursor(None, list(self.default_reply), 0)
                else:
                    cur = self._start_turn(req.prompt)
                    req.kind = "turn" if cur.turn is not None else "default"
            retry = None if req.kind == "side" else self._retry_failure(req.prompt)
            if retry is not None:
                req.kind, cur = "retry", _Cursor(None, [retry], 0)
            req.turn = cur.turn
            segment, _done = self._next_segment(cur)
            blocks = self._blocks(segment, cur)
            fail = self._failure(req, segment)
            if fail is None:
                req.usage = anthropic_usage(self._next_usage())
            else:
                req.failed = fail.status
        self._record(req)
        if fail is not None:
            h.send_json(fail.status, {"type": "error",
                                      "error": {"type": fail.type, "message": fail.message}},
                        dict(fail.headers))
            self._finish(req, "failed")
            return
        stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
        usage = req.usage
        if body.get("stream"):
            self._respond(req, stop, lambda: self._stream(h, body, segment, blocks, usage))
        else:
            self._respond(req, stop, lambda: self._plain(h, body, segment, blocks, usage))

    def _blocks(self, segment: list[Item], cur: _Cursor) -> list[dict[str, Any]]:
        """Content blocks for a segment (lock held; registers tool ids for continuation)."""
        blocks: list[dict[str, Any]] = []
        for item in segment:
            if isinstance(item, Text):
                blocks.append({"type": "text", "text": item.text})
            elif isinstance(item, TOOL_ITEMS):
                tid = self._new_id("toolu_")
                name, inp = self.tool_call(item)
                blocks.append({"type": "tool_use", "id": tid, "name": name, "input": inp})
                self._cursors[tid] = cur
        return blocks

    @staticmethod
    def tool_call(item: Item) -> tuple[str, dict[str, Any]]:
        """Claude Code tool name and input for a script item."""
        if isinstance(item, Bash):
            inp: dict[str, Any] = {"command": item.command, "description": item.description}
            if item.timeout_ms is not None:
                inp["timeout"] = item.timeout_ms
            return "Bash", inp
        if isinstance(item, Write):
            return "Write", {"file_path": item.path, "content": item.content}
        assert isinstance(item, Tool)
        if item.namespace:
            raise ValueError(f"the Messages API has no tool namespaces: {item!r}")
        return item.name, dict(item.input)

    def _message(
        self, body: dict[str, Any], content: list[Any], stop: str | None, usage: dict[str, int]
    ) -> dict[str, Any]:
        return {
            "id": self._new_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": body.get("model") or self.model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {
                "input_tokens": usage["input_tokens"],
                # streamed: a partial count first, the final one in message_delta
                "output_tokens": 1 if stop is None else usage["output_tokens"],
                "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
                "cache_read_input_tokens": usage["cache_read_input_tokens"],
                "cache_creation": {
                    "ephemeral_5m_input_tokens": usage["ephemeral_5m_input_tokens"],
                    "ephemeral_1h_input_tokens": usage["ephemeral_1h_input_tokens"],
                },
            },
        }

    def _plain(
        self, h: _Handler, body: dict[str, Any], segment: list[Item],
        blocks: list[dict[str, Any]], usage: dict[str, int],
    ) -> None:
        for item in segment:
            if isinstance(item, Sleep):
                self._sleep(item.seconds, h)
        stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
        h.send_json(200, self._message(body, blocks, stop, usage),
                    {"request-id": self._new_id("req_")})

    def _stream(
        self, h: _Handler, body: dict[str, Any], segment: list[Item],
        blocks: list[dict[str, Any]], usage: dict[str, int],
    ) -> None:
        h.start_sse({"request-id": self._new_id("req_")})
        h.sse("message_start",
              {"type": "message_start", "message": self._message(body, [], None, usage)})
        stop = "end_turn"
        index = 0
        block_iter = iter(blocks)
        for item in segment:
            if isinstance(item, Sleep):
                h.sse("ping", {"type": "ping"})
                self._sleep(item.seconds, h)
                continue
            block = next(block_iter)
            if block["type"] == "text":
                h.sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
                for piece in self._chunks(block["text"]):
                    h.sse(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "text_delta", "text": piece},
                        },
                    )
            else:
                stop = "tool_use"
                h.sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {
                            "type": "tool_use",
                            "id": block["id"],
                            "name": block["name"],
                            "input": {},
                        },
                    },
                )
                for piece in self._chunks(json.dumps(block["input"])):
                    h.sse(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": piece},
                        },
                    )
            h.sse("content_block_stop", {"type": "content_block_stop", "index": index})
            index += 1
        h.sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
        h.sse("message_stop", {"type": "message_stop"})
        h.end_sse()


# --------------------------------------------------------------------------------------------
# OpenAI Responses API
# --------------------------------------------------------------------------------------------


def _responses_text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for c in content or []:
        if isinstance(c, dict) and c.get("type") in ("input_text", "output_text", "text"):
            parts.append(c.get("text", ""))
    return "\n".join(parts)


def _fill_schema(schema: dict[str, Any], text: str) -> Any:
    """A small value that satisfies a simple JSON schema (strings get ``text``)."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if kind == "object":
        props = schema.get("properties") or {}
        return {k: _fill_schema(v, text) for k, v in props.items()}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    limit = schema.get("maxLength")
    return text[:limit] if isinstance(limit, int) else text


class OpenAIResponsesServer(_ScriptedServer):
    """Fake OpenAI Responses API (what Codex talks to through a custom ``model_provider``).

    A request is a *side request* when it offers no tools (Codex's title generation, …).
    Otherwise, if the last ``input`` item is a ``function_call_output`` whose ``call_id`` we
    issued, the turn continues; else the last ``user`` message's text is the prompt.
    """

    model = "gpt-5-codex"

    @staticmethod
    def is_side_request(body: dict[str, Any]) -> bool:
        if body.get("tools"):
            return False
        # Models Codex knows (e.g. gpt-6.1-sol) get their tools as an input item instead.
        inp = body.get("input")
        return not (
            isinstance(inp, list)
            and any(isinstance(i, dict) and i.get("type") == "additional_tools" for i in inp)
        )

    @staticmethod
    def latest_prompt(body: dict[str, Any]) -> str:
        inp = body.get("input")
        if isinstance(inp, str):
            return inp
        for item in reversed(inp or []):
            if item.get("role") == "user" and item.get("type", "message") == "message":
                return _responses_text_of(item.get("content"))
        return ""

    def _side_text(self, body: dict[str, Any]) -> str:
        """Answer to a side request; a JSON object when a ``json_schema`` format is asked.

        Codex asks for the thread title with ``text.format = {type: json_schema, schema:
        {properties: {title: {type: string, maxLength: 36}}}}``.
        """
        fmt = (body.get("text") or {}).get("format") or {}
        if fmt.get("type") != "json_schema":
            return self.side_reply
        return json.dumps(_fill_schema(fmt.get("schema") or {}, self.side_reply))

    @staticmethod
    def _call_output_ids(body: dict[str, Any]) -> list[str]:
        """call_ids of the trailing run of tool outputs in ``input``."""
        inp = body.get("input")
        if not isinstance(inp, list):
            return []
        ids = []
        for item in reversed(inp):
            if item.get("type") in ("function_call_output", "custom_tool_call_output"):
                ids.append(item.get("call_id", ""))
            elif item.get("type") in ("function_call", "custom_tool_call", "reasoning"):
                continue
            else:
                break
        return ids

    def _handle(self, h: _Handler, req: RecordedRequest) -> None:
        path = req.path.rstrip("/")
        if req.method == "GET" and path == "/v1/models":
            req.kind = "models"
            self._record(req)
            # Both the OpenAI list shape ("data") and Codex's own catalogue shape ("models")
            h.send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": self.model, "object": "model", "created": 0, "owned_by": "scripted"}
                    ],
                    "models": [],
                },
            )
            return
        if req.method != "POST" or path != "/v1/responses" or not isinstance(req.body, dict):
            req.kind = "other"
            self._record(req)
            h.send_json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return

        body = req.body
        req.prompt = self.latest_prompt(body)
        with self._lock:
            if self.is_side_request(body):
                req.kind = "side"
                cur = _Cursor(None, [Text(self._side_text(body))], 0)
            else:
                ids = self._call_output_ids(body)
                found = next((self._cursors.pop(i) for i in ids if i in self._cursors), None)
                if found is not None:
                    req.kind, cur = "continue", found
                elif ids:
                    req.kind, cur = "continue", _Cursor(None, list(self.default_reply), 0)
                else:
                    cur = self._start_turn(req.prompt)
                    req.kind = "turn" if cur.turn is not None else "default"
            retry = None if req.kind == "side" else self._retry_failure(req.prompt)
            if retry is not None:
                req.kind, cur = "retry", _Cursor(None, [retry], 0)
            req.turn = cur.turn
            segment, _done = self._next_segment(cur)
            items = self._output_items(segment, cur)
            fail = self._failure(req, segment)
            if fail is None:
                req.usage = openai_usage(self._next_usage())
            else:
                req.failed = fail.status
        self._record(req)
        if fail is not None:
            h.send_json(fail.status, {"error": {"message": fail.message, "type": fail.type,
                                                "code": None}}, dict(fail.headers))
            self._finish(req, "failed")
            return
        stop = "tool_use" if any(i["type"] == "function_call" for i in items) else "end_turn"
        usage = req.usage
        self._respond(req, stop, lambda: self._stream(h, body, segment, items, usage))

    @staticmethod
    def tool_call(item: Item) -> tuple[str, dict[str, Any]]:
        """Codex tool name and arguments for a script item."""
        if isinstance(item, Bash):
            args: dict[str, Any] = {"cmd": item.command}
            if item.timeout_ms is not None:
                args["timeout_ms"] = item.timeout_ms
            return "exec_command", args
        if isinstance(item, Write):
            cmd = f"printf %s {shlex.quote(item.content)} > {shlex.quote(item.path)}"
            return "exec_command", {"cmd": cmd}
        assert isinstance(item, Tool)
        return item.name, dict(item.input)

    def _output_items(self, segment: list[Item], cur: _Cursor) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for item in segment:
            if isinstance(item, Text):
                out.append(
                    {
                        "id": self._new_id("msg_"),
                        "type": "message",
                        "status": "completed",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": item.text, "annotations": []}],
                    }
                )
            elif isinstance(item, TOOL_ITEMS):
                call_id = self._new_id("call_")
                name, args = self.tool_call(item)
                call: dict[str, Any] = {
                    "id": self._new_id("fc_"),
                    "type": "function_call",
                    "status": "completed",
                    "call_id": call_id,
                    "name": name,
                    "arguments": json.dumps(args),
                }
                if isinstance(item, Tool) and item.namespace:
                    call["namespace"] = item.namespace
                out.append(call)
                self._cursors[call_id] = cur
        return out

    def _stream(
        self, h: _Handler, body: dict[str, Any], segment: list[Item],
        items: list[dict[str, Any]], usage: dict[str, int],
    ) -> None:
        seq = itertools.count()
        rid = self._new_id("resp_")
        model = body.get("model") or self.model
        base: dict[str, Any] = {
            "id": rid,
            "object": "response",
            "created_at": int(time.time()),
            "model": model,
            "status": "in_progress",
            "output": [],
        }

        def ev(kind: str, **fields: Any) -> None:
            h.sse(kind, {"type": kind, "sequence_number": next(seq), **fields})

        h.start_sse({"x-request-id": self._new_id("req_")})
        ev("response.created", response=base)
        ev("response.in_progress", response=base)
        out_index = 0
        it = iter(items)
        for seg_item in segment:
            if isinstance(seg_item, Sleep):
                self._sleep(seg_item.seconds, h)
                continue
            item = next(it)
            if item["type"] == "message":
                text = item["content"][0]["text"]
                ev(
                    "response.output_item.added",
                    output_index=out_index,
                    item={**item, "status": "in_progress", "content": []},
                )
                ev(
                    "response.content_part.added",
                    item_id=item["id"],
                    output_index=out_index,
                    content_index=0,
                    part={"type": "output_text", "text": "", "annotations": []},
                )
                for piece in self._chunks(text):
                    ev(
                        "response.output_text.delta",
                        item_id=item["id"],
                        output_index=out_index,
                        content_index=0,
                        delta=piece,
                    )
                ev(
                    "response.output_text.done",
                    item_id=item["id"],
                    output_index=out_index,
                    content_index=0,
                    text=text,
                )
                ev(
                    "response.content_part.done",
                    item_id=item["id"],
                    output_index=out_index,
                    content_index=0,
                    part=item["content"][0],
                )
            else:
                ev(
                    "response.output_item.added",
                    output_index=out_index,
                    item={**item, "status": "in_progress", "arguments": ""},
                )
                ev(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=out_index,
                    delta=item["arguments"],
                )
                ev(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=out_index,
                    arguments=item["arguments"],
                )
            ev("response.output_item.done", output_index=out_index, item=item)
            out_index += 1
        ev(
            "response.completed",
            response={
                **base,
                "status": "completed",
                "output": items,
                "usage": {
                    "input_tokens": usage["input_tokens"],
                    "input_tokens_details": {"cached_tokens": usage["cached_tokens"]},
                    "output_tokens": usage["output_tokens"],
                    "output_tokens_details": {"reasoning_tokens": usage["reasoning_tokens"]},
                    "total_tokens": usage["input_tokens"] + usage["output_tokens"],
                },
            },
        )
        h.end_sse()
