"""The FastAPI application factory."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

import sm
from sm.config import Settings
from sm.daemon.services import Services
from sm.errors import InvalidInput, SmError


def create_app(settings: Settings) -> FastAPI:
    """Build the app. Nothing is opened until the lifespan starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
        services = await Services.open(settings)
        services.start_background()
        app.state.services = services
        app.state.started = time.time()
        try:
            yield {"services": services}
        finally:
            await services.close()

    app = FastAPI(title="sm", version=sm.__version__, lifespan=lifespan)

    @app.exception_handler(SmError)
    async def _sm_error(request: Request, exc: SmError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        err = InvalidInput(f"{where or 'request'}: {first.get('msg', 'invalid')}")
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
        worktrees,
    )

    for module in (health, sessions, hooks, events, messages, locks, worktrees, coordination,
                   reminders):
        app.include_router(module.router)
    from sm.daemon.routes import ask

    app.include_router(ask.router)
    from sm.daemon.routes import jobs, kb, notes

    for module in (notes, kb, jobs):
        app.include_router(module.router)
    return app
