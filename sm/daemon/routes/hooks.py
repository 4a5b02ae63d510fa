from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from sm.daemon.deps import ServicesDep, caller

router = APIRouter(tags=["hooks"])


@router.post("/hooks/{event}")
async def hook(event: str, request: Request, svc: ServicesDep) -> dict[str, Any]:
    """One hook fact from an agent (or tmux's pane-died), applied once by its id."""
    record = await request.json()
    if not isinstance(record, dict):
        record = {}
    record["event"] = event
    who = None if event == "pane-died" else await caller(request)
    return await svc.handle_hook(who, record)
