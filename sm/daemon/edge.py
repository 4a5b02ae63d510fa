"""Input hygiene at the HTTP edge: what no operation should ever have to look at.

An ASGI middleware in front of every route. It refuses, with one error naming the field:

* a body over the size cap — by its ``Content-Length`` before anything is read, or as
  it streams in (413 ``too_large``): the daemon never holds more than the cap;
* a body that is not JSON, nested deeper than ``MAX_DEPTH``, or holding ``NaN`` or
  ``Infinity``; outside a hook's payload also NUL characters, lone surrogates and
  integers beyond 64 bits (SQLite's range) — 400 ``invalid_input``;
* a path or query with a NUL, a query integer beyond 64 bits, a non-finite query number.

A hook's payload is the agent's own data: it is stored as sent (JSON keeps what SQLite
and paths cannot take escaped), and whatever reads a path from it checks that itself.
The body is parsed here once more than the route parses it; a 1 MiB body costs ~5 ms.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from sm.errors import InvalidInput, SmError, TooLarge

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_DEPTH = 64
INT64 = (-(2**63), 2**63 - 1)
_INTEGER = re.compile(r"[+-]?\d+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_FINITE = frozenset({"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity",
                         "+infinity", "-infinity"})


class Edge:
    """``Edge(app, max_bytes)``: the app behind the checks above."""

    def __init__(self, app: App, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_target(scope.get("path", ""), scope.get("query_string", b""))
            body = await self._body(scope, receive)
            if body:
                check_json(body, strict=not scope.get("path", "").startswith("/hooks/"))
        except SmError as exc:
            await _answer(send, exc)
            return
        if body is None:
            await self.app(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body (None for a request that has none to read), at most
        ``max_bytes``. Raises TooLarge as soon as it is known to be bigger."""
        headers = dict(scope.get("headers") or ())
        length = headers.get(b"content-length")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        if length is None and not chunked:
            return None
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                raise InvalidInput(f"Content-Length {length[:40]!r} is not a number") from None
            if declared > self.max_bytes:
                raise _too_large(declared, self.max_bytes)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise _too_large(size, self.max_bytes, so_far=True)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def check_target(path: str, query: bytes) -> None:
    """Raises InvalidInput for a NUL in the path or query, a query integer beyond 64
    bits or a query number that is not finite."""
    if "\x00" in path:
        raise InvalidInput(f"path {path[:80]!r}: contains a NUL character")
    if not query:
        return
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        field = f"query {name[:40]}"
        if "\x00" in name or "\x00" in value:
            raise InvalidInput(f"{field}: contains a NUL character")
        if _INTEGER.fullmatch(value) and (len(value.lstrip("+-")) > 19
                                          or not INT64[0] <= int(value) <= INT64[1]):
            raise InvalidInput(f"{field}: {value[:40]} is outside the 64-bit integer range")
        if value.strip().lower() in _NOT_FINITE:
            raise InvalidInput(f"{field}: {value!r} is not a finite number")


def check_json(body: bytes, *, strict: bool = True) -> Any:
    """Parse ``body`` and check every value; returns it. ``strict`` also refuses NUL
    characters, lone surrogates and integers beyond 64 bits. Raises InvalidInput naming
    the first bad field."""
    try:
        value = json.loads(body)
    except RecursionError:
        raise InvalidInput(f"body: JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # includes a bad UTF-8 byte and a too-long integer
        raise InvalidInput(f"body: not valid JSON ({str(exc)[:120]})") from None
    stack: list[tuple[Any, str, int]] = [(value, "body", 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise InvalidInput(f"{where}: JSON nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                for key, sub in item.items():
                    if strict:
                        _check_string(key, f"{where} key {key[:40]!r}")
                    stack.append((sub, f"{where}.{key[:40]}", depth + 1))
            else:
                stack.extend((sub, f"{where}[{i}]", depth + 1) for i, sub in enumerate(item))
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidInput(f"{where}: {item} is not a finite number")
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if strict and not INT64[0] <= item <= INT64[1]:
                raise InvalidInput(f"{where}: {str(item)[:40]} is outside the 64-bit "
                                   "integer range")
        elif isinstance(item, str) and strict:
            _check_string(item, where)
    return value


def _check_string(text: str, where: str) -> None:
    if "\x00" in text:
        raise InvalidInput(f"{where}: contains a NUL character")
    if _SURROGATE.search(text):
        raise InvalidInput(f"{where}: contains a lone surrogate (not valid Unicode text)")


def _too_large(size: int, limit: int, so_far: bool = False) -> TooLarge:
    what = f"more than {limit}" if so_far else str(size)
    return TooLarge(f"the request body is {what} bytes; the limit is {limit} "
                    "(limits.max_request_bytes)")


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields ``body`` once, then what the client sends next (its
    disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer(send: Send, exc: SmError) -> None:
    data = json.dumps(exc.to_dict()).encode()
    await send({"type": "http.response.start", "status": exc.status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": data})
