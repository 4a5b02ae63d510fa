"""A message near the size limit, through the real path: a bracketed paste into a scripted
agent, whose hooks then get the whole prompt (and the whole reply) on stdin — far more
than a pipe holds, so a hook reads it while it is still being written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

BODY = "y" * 200_000


def test_a_big_message_is_received_and_its_turn_ends(
    sm: Callable[..., Any],
    sm_json: Callable[..., Any],
    spawn: Callable[..., dict[str, Any]],
    sm_home: Path,
    events: Callable[..., list[Any]],
    wait_until: Callable[..., Any],
) -> None:
    agent = spawn("--name", "w")
    [sent] = json.loads(sm("send", "w", "-", "--json", input=BODY).stdout)

    message = wait_until(
        lambda: (m := sm_json("message", sent["id"]))["state"] in ("delivered", "failed") and m,
        timeout=15,
        message=f"message {sent['id']} to be delivered or failed",
    )
    assert (message["state"], message["reason"]) == ("delivered", None)
    # hooks time out after 10 s: a Stop reported well before that got its whole payload
    wait_until(
        lambda: ("hook", "Stop") in events("w", summary=True),
        timeout=5,
        message="the Stop hook of the big turn",
    )

    transcript = sm_home / "sessions" / agent["id"] / "transcripts"
    records = [
        json.loads(line)
        for path in transcript.glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    prompts = [r["prompt"] for r in records if r["type"] == "user"]
    assert prompts == [f"[sm {sent['id']} from operator] {BODY}"]
