from __future__ import annotations

import os
import time
from typing import Any

from fastapi import APIRouter, Request

import sm

router = APIRouter(tags=["daemon"])


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    """Liveness: answers as soon as the daemon serves requests."""
    return {
        "ok": True,
        "pid": os.getpid(),
        "version": sm.__version__,
        "uptime": round(time.time() - request.app.state.started, 3),
        "home": str(request.app.state.services.settings.home),
        "tmux_socket": request.app.state.services.settings.tmux_socket,
    }
