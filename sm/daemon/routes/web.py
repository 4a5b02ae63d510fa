"""The web dashboard's switch (``sm web``) and the offline API docs page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from sm.daemon.assets import Assets, docs_page
from sm.daemon.deps import CallerDep, ServicesDep

router = APIRouter(tags=["web"])


@router.post("/web/login")
async def login(request: Request, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Start the dashboard if it is off and return a one-time login URL. The operator
    only: an agent never gets a way into the dashboard."""
    await svc.ops.authz.check_operator(caller, "opening the web dashboard")
    web = await svc.start_web(request.app.openapi)
    return {"url": web.url, "login_url": web.login_url(),
            "expires_in": svc.settings.web.login_ttl}


@router.post("/web/token")
async def token(request: Request, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """A bearer token for the dashboard's API (scripts); the operator only."""
    await svc.ops.authz.check_operator(caller, "a web dashboard token")
    web = await svc.start_web(request.app.openapi)
    return {"url": web.url, "token": web.auth.bearer()}


@router.get("/web")
async def status(svc: ServicesDep) -> dict[str, Any]:
    return {"running": svc.web is not None, "url": svc.web.url if svc.web else None}


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    """Swagger UI from the locally installed package (a plain page without it)."""
    return HTMLResponse(docs_page("/openapi.json", "/docs/assets", Assets().has_swagger()))


@router.get("/docs/assets/{name}", include_in_schema=False)
async def docs_asset(name: str) -> FileResponse:
    path, media = Assets().find(name)
    return FileResponse(path, media_type=media)
