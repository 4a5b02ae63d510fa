"""The FastAPI application factory."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

import sm
from sm.config import Settings
from sm.daemon.edge import Edge
from sm.daemon.services import Services
from sm.errors import InvalidInput, SmError


def create_app(settings: Settings) -> FastAPI:
    """Build the app. Nothing is opened until the lifespan starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
        services = await Services.open(settings)
        services.start_background()
        if settings.web.enabled:
            try:
                await services.start_web(app.openapi)
            except SmError as exc:
                logging.getLogger("sm.web").error("web dashboard off: %s", exc.message)
        app.state.services = services
        app.state.started = time.time()
        try:
            yield {"services": services}
        finally:
            await services.close()

    # the docs page is served from local assets (no CDN): see routes/web.py
    app = FastAPI(title="sm", version=sm.__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None)
    app.add_middleware(Edge, max_bytes=settings.limits.request_bytes)

    @app.exception_handler(SmError)
    async def _sm_error(request: Request, exc: SmError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = InvalidInput(validation_message(list(exc.errors())))
        return JSONResponse(err.to_dict(), status_code=err.status)

    from sm.daemon.routes import (
        coordination,
        events,
        health,
        hooks,
        locks,
        messages,
        reminders,
        sessions,
        stream,
        worktrees,
    )

    for module in (health, sessions, hooks, events, stream, messages, locks, worktrees,
                   coordination, reminders):
        app.include_router(module.router)
    from sm.daemon.routes import ask, web

    app.include_router(ask.router)
    app.include_router(web.router)
    from sm.daemon.routes import jobs, kb, notes

    for module in (notes, kb, jobs):
        app.include_router(module.router)
    return app


def validation_message(errors: list[dict[str, Any]]) -> str:
    """One line naming the field, what was expected and the value given, e.g.
    ``mode: input should be 'sequential', 'important' or 'urgent'; got 'loud'``."""
    if not errors:
        return "invalid request"
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ())]
    where = ".".join(loc[1:] if loc and loc[0] in ("body", "query", "path") else loc)
    msg = str(first.get("msg", "invalid"))
    msg = msg[:1].lower() + msg[1:]
    if first.get("type") == "missing":
        text = f"{where or 'request body'}: a required field is missing"
    elif first.get("type") == "json_invalid":
        text = f"request body is not valid JSON: {first.get('ctx', {}).get('error', msg)}"
    else:
        got = repr(first.get("input"))
        got = got if len(got) <= 60 else got[:57] + "..."
        text = f"{where or 'request body'}: {msg}; got {got}"
    more = len(errors) - 1
    return text + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
