"""What the dashboard's buttons do. Each handler is thin: it parses the form, then calls
the same daemon code the HTTP routes of the Unix socket call, as the operator (via
"web"). Handlers raise the one error tree; the web app turns it into the one JSON
error shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sm.core.permissions import answer_permission
from sm.core.sessions import SpawnRequest
from sm.errors import InvalidInput, Unavailable
from sm.vocab import DeliveryMode, choices

if TYPE_CHECKING:
    from sm.daemon.services import Services

VIA = "web"  # how the operator reached sm: the sender label of messages sent here


def _text(body: dict[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise InvalidInput(f"{key}: expected a string, not {value!r}")
    return value


def _mode(body: dict[str, Any]) -> str:
    mode = _text(body, "mode", DeliveryMode.SEQUENTIAL.value)
    if mode not in set(DeliveryMode):
        raise InvalidInput(f"mode {mode!r}: expected one of {choices(DeliveryMode)}")
    return mode


async def spawn(svc: Services, body: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if body.get("script"):
        options["script"] = str(Path(_text(body, "script")).expanduser())
    cwd = _text(body, "cwd", "") or str(Path.home())
    req = SpawnRequest(_text(body, "provider"), _text(body, "prompt", ""),
                       _text(body, "name", "") or None, cwd, options, None)
    return (await svc.sessions.spawn(req, None)).public()


async def send(svc: Services, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    msgs = await svc.delivery.send(None, [ref], _text(body, "text"), _mode(body), None, VIA)
    return {"items": [m.public(full=False) for m in msgs]}


async def kill(svc: Services, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    return (await svc.sessions.kill(ref, None)).public()


async def restore(svc: Services, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    return (await svc.sessions.restore(ref, None)).public()


async def clear(svc: Services, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    done = await svc.coordination.conversations.clear(None, ref, _text(body, "prompt", ""),
                                                      _mode(body))
    return {"clear": done.clear.public(full=False),
            "prompt": done.prompt.public(full=False) if done.prompt else None}


async def approve(svc: Services, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    return await answer_permission(svc.sessions, ref, allow=True,
                                   always=bool(body.get("always")))


async def deny(svc: Services, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    return await answer_permission(svc.sessions, ref, allow=False)


async def answer(svc: Services, ask_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Answer an ``sm ask`` question (questions exist only with the Telegram bridge)."""
    if svc.telegram is None:
        raise Unavailable("questions need the Telegram bridge (telegram.token)")
    text = _text(body, "text").strip()
    if not text:
        raise InvalidInput("the answer is empty")
    await svc.telegram.asks.answer(ask_id, text, VIA)
    return {"id": ask_id, "state": "answered", "answer": text}
