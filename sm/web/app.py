"""The dashboard's ASGI app, served by the daemon on its own TCP listener.

Every request passes ``Guard`` first: Host, then Origin, then the session cookie (or a
bearer token), then — for anything that changes state and every WebSocket — the CSRF
token. Only ``/login`` is reachable without a cookie, and it only trades a one-time
token for one. Pages are one static HTML/JS app; its data comes from ``/api/*`` (reads,
``views.py``), ``/api/...`` POSTs (``actions.py``), ``/ws/events`` (the event stream)
and ``/ws/term/{session}`` (a live terminal per viewer).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from sm.daemon import streaming
from sm.daemon.assets import Assets, docs_page
from sm.errors import InvalidInput, NotFound, SmError
from sm.web import actions, views
from sm.web.auth import COOKIE, WebAuth
from sm.web.terminal import PtyFeed, SizePins

if TYPE_CHECKING:
    from sm.daemon.services import Services

STATIC = Path(__file__).with_name("static")
_STATIC_FILES = {"app.js": "text/javascript", "app.css": "text/css", "index.html": "text/html"}
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class Guard:
    """The security checks in front of every route (HTTP and WebSocket)."""

    def __init__(self, app: ASGIApp, auth: WebAuth, scheme: str) -> None:
        self.app = app
        self.auth = auth
        self.scheme = scheme

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        host = headers.get("host")
        is_ws = scope["type"] == "websocket"
        if not self.auth.host_ok(host):
            return await _refuse(scope, receive, send, 403, f"host {host!r} is not served here")
        origin = headers.get("origin")
        if origin is not None and not self.auth.origin_ok(origin, host, self.scheme):
            return await _refuse(scope, receive, send, 403, f"origin {origin!r} refused")
        if scope["path"] == "/login" and not is_ws:
            await self.app(scope, receive, send)
            return
        if is_ws and origin is None and "authorization" not in headers:
            return await _refuse(scope, receive, send, 403, "a WebSocket needs an Origin")
        cookie = SimpleCookie(headers.get("cookie", ""))
        by_cookie = self.auth.check_cookie(cookie[COOKIE].value if COOKIE in cookie else None)
        nonce = by_cookie or self.auth.check_bearer(headers.get("authorization"))
        if nonce is None:
            return await _refuse(scope, receive, send, 401,
                                 "log in first: run `sm web` for a login URL")
        unsafe = is_ws or scope.get("method", "GET") in _UNSAFE
        if unsafe and by_cookie is not None:
            token = headers.get("x-csrf-token")
            if is_ws:
                token = (parse_qs(scope.get("query_string", b"").decode()).get("csrf")
                         or [None])[0]
            if not self.auth.check_csrf(by_cookie, token):
                return await _refuse(scope, receive, send, 403, "missing or bad CSRF token")
        scope.setdefault("state", {})["nonce"] = nonce
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, why: str) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        # refused before the handshake: the browser sees this HTTP status
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "websocket.http.response.body", "body": _error(status, why)})
        return
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": _error(status, why)})


def _error(status: int, why: str) -> bytes:
    code = {401: "unauthorized", 403: "refused"}.get(status, "error")
    return json.dumps({"error": {"code": code, "message": why}}).encode()


def create_web_app(
    svc: Services, auth: WebAuth, assets: Assets, openapi: Callable[[], dict[str, Any]],
    secure: bool = False,
) -> ASGIApp:
    """The dashboard app over ``svc`` (the daemon's own services)."""

    async def login(request: Request) -> Response:
        cookie = auth.redeem(request.query_params.get("token", ""))
        if cookie is None:
            return HTMLResponse("<p>This login link was used or has expired. Run "
                                "<code>sm web</code> for a new one.</p>", status_code=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, cookie, max_age=int(auth.cookie_ttl), httponly=True,
                            samesite="strict", secure=secure, path="/")
        return response

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html",
                            headers={"Cache-Control": "no-store"})

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC_FILES:
            raise NotFound(f"no static file {name!r}")
        return FileResponse(STATIC / name, media_type=_STATIC_FILES[name])

    async def vendor(request: Request) -> Response:
        path, media = assets.find(request.path_params["name"])
        return FileResponse(path, media_type=media,
                            headers={"Cache-Control": "max-age=86400"})

    async def me(request: Request) -> Response:
        import sm

        return JSONResponse({"csrf": auth.csrf(request.state.nonce), "version": sm.__version__})

    async def overview(request: Request) -> Response:
        want = await streaming.reader_filter(svc, actions.WEB, None, None)
        return JSONResponse((await streaming.snapshot(svc, actions.WEB, want))["payload"])

    async def docs(request: Request) -> Response:
        return HTMLResponse(docs_page("/openapi.json", "/vendor", assets.has_swagger()))

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi())

    def read(fn: Callable[..., Awaitable[dict[str, Any]]], *names: str) -> Callable[..., Any]:
        async def handler(request: Request) -> Response:
            kwargs: dict[str, Any] = {k: request.path_params[k] for k in names}
            for key, value in request.query_params.items():
                if key in ("q", "state", "session", "kind"):
                    kwargs[key] = value
                elif key in ("limit", "before"):
                    kwargs[key] = _int(key, value)
            return JSONResponse(await fn(svc.ops, **kwargs))
        return handler

    def act(fn: Callable[..., Awaitable[dict[str, Any]]], ref: str | None) -> Callable[..., Any]:
        async def handler(request: Request) -> Response:
            try:
                body = await request.json() if await request.body() else {}
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return JSONResponse({"error": {"code": "invalid_input",
                                               "message": "expected a JSON object"}}, 400)
            args = [request.path_params[ref]] if ref else []
            return JSONResponse(await fn(svc.ops, *args, body))
        return handler

    async def events_ws(ws: WebSocket) -> None:
        q = ws.query_params
        await ws.accept()
        after = _int("after", q["after"]) if q.get("after") else None
        await streaming.pump(ws, svc, actions.WEB, q.get("session") or None, after,
                             q.get("kind") or None, q.get("snapshot") in ("1", "true"))

    pins = SizePins(svc.runtime.run, svc.settings.tmux.width, svc.settings.tmux.height)

    async def term_ws(ws: WebSocket) -> None:
        await terminal(ws, svc, pins)

    sessions_actions = {
        "send": actions.send, "kill": actions.kill, "restore": actions.restore,
        "clear": actions.clear, "approve": actions.approve, "deny": actions.deny,
    }
    routes = [
        Route("/login", login),
        Route("/", index),
        Route("/static/{name}", static),
        Route("/vendor/{name:path}", vendor),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/docs", docs),
        Route("/openapi.json", openapi_json),
        Route("/api/me", me),
        Route("/api/overview", overview),
        Route("/api/sessions/{ref}", read(views.session, "ref")),
        Route("/api/messages", read(views.messages)),
        Route("/api/events", read(views.events)),
        Route("/api/locks", read(views.locks)),
        Route("/api/worktrees", read(views.worktrees)),
        Route("/api/spawn", act(actions.spawn, None), methods=["POST"]),
        Route("/api/asks/{ref}/answer", act(actions.answer, "ref"), methods=["POST"]),
        *[Route(f"/api/sessions/{{ref}}/{name}", act(fn, "ref"), methods=["POST"])
          for name, fn in sessions_actions.items()],
        WebSocketRoute("/ws/events", events_ws),
        WebSocketRoute("/ws/term/{ref}", term_ws),
    ]

    async def sm_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SmError)
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    app = Starlette(routes=routes, exception_handlers={SmError: sm_error})
    return Guard(app, auth, "https" if secure else "http")


async def terminal(ws: WebSocket, svc: Services, pins: SizePins) -> None:
    """One viewer's live terminal. Binary frames out are terminal output; text frames in
    are JSON: ``{"type": "resize", "cols", "rows"}``, ``{"type": "take"}`` (start typing),
    ``{"type": "input", "data"}`` (ignored until taken)."""
    try:
        rec = await svc.ops.sessions.get(actions.WEB, ws.path_params["ref"])
    except SmError as exc:
        await ws.close(code=1008, reason=exc.message[:120])
        return
    q = ws.query_params
    feed = PtyFeed(svc.settings.tmux.binary, svc.settings.tmux_socket, rec.tmux_session,
                   _int("cols", q.get("cols", "80")), _int("rows", q.get("rows", "24")))
    await ws.accept()
    try:
        await pins.pin(rec.tmux_session)
    except SmError as exc:
        await ws.close(code=1011, reason=f"cannot attach: {exc.message}"[:120])
        return
    try:
        await feed.start()
    except OSError as exc:
        await pins.unpin(rec.tmux_session)
        await ws.close(code=1011, reason=f"cannot attach: {exc}"[:120])
        return

    async def pump_out() -> None:
        async for chunk in feed.output():
            await ws.send_bytes(chunk)
        await ws.send_text(json.dumps({"type": "ended"}))

    out = asyncio.create_task(pump_out())
    try:
        while True:
            message = await ws.receive_text()
            try:
                data = json.loads(message)
            except ValueError:
                continue
            if data.get("type") == "resize":
                feed.resize(_int("cols", data.get("cols", 80)), _int("rows", data.get("rows", 24)))
            elif data.get("type") == "take":
                await feed.take_input()
                await ws.send_text(json.dumps({"type": "input", "writable": True}))
            elif data.get("type") == "input" and isinstance(data.get("data"), str):
                await feed.write(data["data"].encode())
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        out.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await out
        await feed.close()
        await pins.unpin(rec.tmux_session)


def _int(name: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name}: expected a whole number, not {value!r}") from None
