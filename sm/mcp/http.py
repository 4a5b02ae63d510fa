"""``/mcp`` on the daemon's socket: sm's MCP server over streamable HTTP.

Every request is authenticated like any route — the caller's pid from the socket, its
bearer token, ``X-Sm-Session`` — before the MCP SDK sees it; a refused identity is
answered with sm's HTTP status and a JSON-RPC error whose message is sm's
(``bad_token: unknown session token``). The server is stateless and answers JSON: each
JSON-RPC request is one HTTP request, so each tool call carries (and is checked for) its
own identity, and nothing is kept between calls. The tools get the proven ``Caller`` and
the operations through the request's scope (``sm/mcp/tools.py``).

The SDK costs about a second to import: it loads on the first request, not with the
daemon.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from sm.daemon.peer import PEER_PID
from sm.errors import SmError, Unavailable

if TYPE_CHECKING:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    from sm.daemon.services import Services

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

PATH = "/mcp"
SERVER_ERROR = -32000  # JSON-RPC: the server could not serve the request (sm's error)
log = logging.getLogger("sm.mcp")


class Endpoint:
    """The ASGI app at ``/mcp``. ``close`` ends the SDK's task group (the daemon's
    lifespan calls it)."""

    def __init__(self) -> None:
        self._manager: StreamableHTTPSessionManager | None = None
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from sm.mcp.tools import CALLER, OPS

        body = await _read(receive)
        svc: Services = scope["app"].state.services
        headers = Headers(scope=scope)
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        try:
            caller = await svc.identity.authenticate(scope.get(PEER_PID), token,
                                                     headers.get("x-sm-session", ""))
            manager = await self.manager()
        except SmError as exc:
            await _refuse(exc, body, scope, receive, send)
            return
        scope[CALLER] = caller
        scope[OPS] = svc.ops
        await manager.handle_request(scope, _replay(body, receive), send)

    async def manager(self) -> StreamableHTTPSessionManager:
        """The SDK's request handler, built and started on first use."""
        async with self._lock:
            if self._manager is None:
                self._manager = await self._start()
            return self._manager

    async def _start(self) -> StreamableHTTPSessionManager:
        try:
            from mcp.server.transport_security import TransportSecuritySettings

            from sm.mcp.tools import build
        except ImportError as exc:  # an install without the SDK
            raise Unavailable(f"the MCP SDK is not installed ({exc}); pip install mcp") from None
        logging.getLogger("mcp").setLevel(logging.WARNING)  # it logs every request at info
        server = build()
        # the socket is the operator's (0600) and every request proves who calls: no
        # Host/Origin checks (they guard TCP listeners against DNS rebinding)
        server.streamable_http_app(
            stateless_http=True, json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        manager = server.session_manager
        started = asyncio.Event()

        async def run() -> None:
            async with manager.run():
                started.set()
                await self._stop.wait()

        self._task = asyncio.create_task(run(), name="mcp")
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait((self._task, waiter), return_when=asyncio.FIRST_COMPLETED)
        if not started.is_set():
            waiter.cancel()
            raise Unavailable(f"the MCP server did not start: {self._task.exception()}")
        log.info("MCP server started (%d tools)", len(await server.list_tools()))
        return manager

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 5.0)
            except (TimeoutError, Exception):  # closing must not stop the daemon's close
                log.exception("MCP server did not stop cleanly")


async def _read(receive: Receive) -> bytes:
    """The request's whole body (the edge has capped its size)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` first, then what the connection says."""
    sent = False

    async def again() -> MutableMapping[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def _refuse(exc: SmError, body: bytes, scope: Scope, receive: Receive,
                  send: Send) -> None:
    """A refused identity, as a JSON-RPC error answering the request (MCP clients show
    its message) with sm's HTTP status."""
    try:
        request_id = json.loads(body).get("id")
    except (ValueError, AttributeError):
        request_id = None
    answer = {"jsonrpc": "2.0", "id": request_id,
              "error": {"code": SERVER_ERROR, "message": f"{exc.code}: {exc.message}",
                        "data": {"code": exc.code}}}
    await JSONResponse(answer, status_code=exc.status)(scope, receive, send)
