"""The FastAPI application factory."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.routing import Route

import sm
from sm.api.validation import validation_message
from sm.config import Settings
from sm.daemon.edge import Edge
from sm.daemon.services import Services
from sm.errors import InvalidInput, SmError
from sm.mcp.http import PATH as MCP_PATH
from sm.mcp.http import Endpoint as McpEndpoint


def create_app(settings: Settings) -> FastAPI:
    """Build the app. Nothing is opened until the lifespan starts."""

    mcp = McpEndpoint()

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
            await mcp.close()
            await services.close()

    # the docs page is served from local assets (no CDN): see routes/web.py. FastAPI's own
    # OpenTelemetry is off: sm's requests are never traced or exported, whatever tracer
    # provider or FASTAPI_OTEL_* variable the process meets
    app = FastAPI(title="sm", version=sm.__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None, telemetry={"tracing": False, "metrics": False, "logs": False,
                                             "auto_configure": False})
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
        inbox,
        locks,
        messages,
        reminders,
        sessions,
        stream,
        worktrees,
    )

    # routes are matched in the order they were added, and no two routers share a path:
    # the agents' hot path (hooks, sends) first
    for module in (hooks, messages, health, sessions, events, stream, locks, worktrees,
                   coordination, reminders, inbox):
        app.include_router(module.router)
    from sm.daemon.routes import ask, budgets, usage, web

    app.include_router(ask.router)
    app.include_router(usage.router)
    app.include_router(budgets.router)
    app.include_router(web.router)
    from sm.daemon.routes import jobs, kb, notes

    for module in (notes, kb, jobs):
        app.include_router(module.router)
    # MCP over streamable HTTP: an ASGI app of its own (so not in /openapi.json)
    app.router.routes.append(Route(MCP_PATH, mcp, methods=["POST"]))
    return app
