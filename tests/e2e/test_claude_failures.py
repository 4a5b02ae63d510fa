"""What the real Claude Code CLI (2.1.330) reports when the API refuses a turn, and how sm
classifies it: the StopFailure hook's shape for a rate limit and an overload, read from
the CLI itself rather than assumed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from model_servers import Fail, Text, Turn

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("claude_bin")]


@pytest.fixture
def sm_env(sm_env: dict[str, str]) -> dict[str, str]:
    """Claude Code retries a 429 or a 529 for minutes by default: twice is enough here."""
    return {**sm_env, "CLAUDE_CODE_MAX_RETRIES": "2"}


def _stop_failures(events: Callable[..., Any], ref: str) -> list[dict[str, Any]]:
    return [e["payload"]["data"] for e in events(ref, kinds=("hook",))
            if e["payload"]["event"] == "StopFailure"]


@pytest.mark.parametrize("status, kind, message, expected", [
    (429, "rate_limit_error", "This request would exceed your account's rate limit.",
     "rate_limit"),
    (529, "overloaded_error", "Overloaded", "overloaded"),
])
def test_a_refused_turn_is_classified_from_what_the_cli_reports(
    spawn_agent: Callable[..., dict[str, Any]], sm_json: Callable[..., Any],
    wait_state: Callable[..., dict[str, Any]], events: Callable[..., Any], models: Any,
    wait_until: Callable[..., Any], status: int, kind: str, message: str, expected: str,
) -> None:
    models.anthropic.add(
        Turn("do the work", [Fail(status, kind, message, repeat=100,
                                  headers=(("retry-after", "0"),))]),
        Turn("try again", [Text("done now")]),
    )
    spawn_agent("claude", "refused")
    sm_json("send", "refused", "do the work")
    failures = wait_until(lambda: _stop_failures(events, "refused"), timeout=150,
                          message="a StopFailure hook")
    failure = wait_until(lambda: sm_json("status", "refused").get("failure"), timeout=20)
    assert failure["class"] == expected, (failures, failure)
    assert wait_state("refused", "idle", timeout=30)["state"] == "idle"
    print("StopFailure payload:", failures[0])  # kept in the log: the CLI's own shape
    if expected == "rate_limit":  # messages to it are held until the reset, then go
        sm_json("send", "refused", "try again")
        wait_state("refused", "idle", timeout=90, where=lambda r: r["last_message"] == "done now")
