"""What the dashboard's buttons do. Each handler parses the form and calls one operation
(``sm/ops``) as the operator reached "via web", and returns the wire shape
(``sm/api/models.py``) — the same operations and shapes as the Unix socket's routes.
Handlers raise the one error tree; the web app turns it into the one JSON error shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sm.api.models import Ask, Message, Session
from sm.core.caller import Caller
from sm.core.sessions import SpawnRequest
from sm.errors import InvalidInput
from sm.vocab import DeliveryMode, choices

if TYPE_CHECKING:
    from sm.ops import Ops
    from sm.ops.sessions import Decision

WEB = Caller.operator("web")


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


async def spawn(ops: Ops, body: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if body.get("script"):
        options["script"] = str(Path(_text(body, "script")).expanduser())
    cwd = _text(body, "cwd", "") or str(Path.home())
    req = SpawnRequest(_text(body, "provider"), _text(body, "prompt", ""),
                       _text(body, "name", "") or None, cwd, options, None)
    return Session.of(await ops.sessions.spawn(WEB, req)).model_dump()


async def send(ops: Ops, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    msgs = await ops.messages.send(WEB, [ref], _text(body, "text"), _mode(body),
                                   sender=WEB.via)
    return {"items": [Message.of(m, full=False).model_dump(by_alias=True) for m in msgs]}


async def kill(ops: Ops, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    return Session.of(await ops.sessions.kill(WEB, ref)).model_dump()


async def restore(ops: Ops, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    return Session.of(await ops.sessions.restore(WEB, ref)).model_dump()


async def clear(ops: Ops, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    done = await ops.coordination.clear(WEB, ref, _text(body, "prompt", ""), _mode(body))
    return {"clear": Message.of(done.clear, full=False).model_dump(by_alias=True),
            "prompt": Message.of(done.prompt, full=False).model_dump(by_alias=True)
            if done.prompt else None}


async def approve(ops: Ops, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    decision: Decision = "always" if body.get("always") else "allow"
    return Session.of(await ops.sessions.answer(WEB, ref, decision)).model_dump()


async def deny(ops: Ops, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    return Session.of(await ops.sessions.answer(WEB, ref, "deny")).model_dump()


async def answer(ops: Ops, ask_id: str, body: dict[str, Any]) -> dict[str, Any]:
    text = _text(body, "text").strip()
    if not text:
        raise InvalidInput("the answer is empty")
    return Ask.of(await ops.asks.answer(WEB, ask_id, text)).model_dump()
