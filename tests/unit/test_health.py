"""Failure classes from StopFailure payloads, exits and tool errors; reset times."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from sm.core.delivery.decide import Action, decide
from sm.core.health import (
    Health,
    classify_exit,
    classify_stop_failure,
    classify_tool_error,
    reset_from_text,
)
from sm.store.messages import MessageRecord
from sm.store.sessions import SessionRecord
from sm.vocab import DeliveryMode, MessageKind, MessageState, SessionState

NOW = datetime(2026, 3, 4, 10, 0, 0).timestamp()  # local time
BASE = {"session_id": "c0ffee", "transcript_path": "/t.jsonl", "cwd": "/w",
        "hook_event_name": "StopFailure"}


@pytest.mark.parametrize(("payload", "cls", "detail"), [
    # Claude Code 2.1.330 after a 400 it gave up on (tests/e2e/FACTS.md)
    ({"error": "unknown", "last_assistant_message": "API Error: 400 bad request"},
     "other", "API Error: 400 bad request"),
    ({"error": "rate_limit", "error_details": "429 rate_limit_error",
      "last_assistant_message": "API Error: Rate limit reached"}, "rate_limit",
     "rate_limit: 429 rate_limit_error · API Error: Rate limit reached"),
    ({"error": "authentication_failed", "last_assistant_message":
      "Invalid API key · Please run /login"}, "auth", None),
    ({"error": "oauth_org_not_allowed"}, "auth", "oauth_org_not_allowed"),
    ({"error": "server_error", "last_assistant_message":
      "API Error: Repeated 529 Overloaded errors"}, "overloaded", None),
    ({"error": "server_error", "last_assistant_message": "API Error: 500 Internal server "
      "error"}, "other", None),
    ({"error": "invalid_request", "last_assistant_message": "Prompt is too long"},
     "context_limit", None),
    ({"error": "max_output_tokens"}, "other", "max_output_tokens"),
    # older builds: an object
    ({"error": {"type": "overloaded_error", "message": "Overloaded"}}, "overloaded", None),
    # the shape some writers document: error_type / error_message
    ({"error_type": "rate_limit", "error": "429",
      "error_message": "Rate limit exceeded: 100 requests per minute"}, "rate_limit", None),
    ({}, "other", "unknown"),
])
def test_stop_failure_classes(payload, cls, detail):
    failure = classify_stop_failure({**BASE, **payload}, NOW)
    assert failure.cls == cls
    if detail is not None:
        assert failure.detail == detail


def test_a_rate_limit_reset_from_the_payload_or_its_message():
    epoch = int(NOW) + 3600
    said = {"error": "rate_limit", "last_assistant_message":
            f"Claude AI usage limit reached|{epoch}"}
    assert classify_stop_failure(said, NOW).reset_at == epoch
    assert classify_stop_failure({"error": "rate_limit", "retry_after": 30}, NOW).reset_at \
        == NOW + 30
    assert classify_stop_failure({"error": {"type": "rate_limit_error",
                                            "resets_at": epoch * 1000}}, NOW).reset_at == epoch
    assert classify_stop_failure({"error": "rate_limit"}, NOW).reset_at is None
    # a reset is read only for a rate limit
    assert classify_stop_failure({"error": "server_error", "retry_after": 5}, NOW).reset_at \
        is None


@pytest.mark.parametrize(("text", "expected"), [
    ("5-hour limit reached ∙ resets 3pm", datetime(2026, 3, 4, 15, 0).timestamp()),
    ("You've hit your limit · resets 9am", datetime(2026, 3, 5, 9, 0).timestamp()),
    ("limit reached, resets at 10:30", datetime(2026, 3, 4, 10, 30).timestamp()),
    ("Please retry after 45 seconds", NOW + 45),
    ("try again in 2 minutes", NOW + 120),
    ("rate limited until 2026-03-04T12:00:00Z",
     datetime.fromisoformat("2026-03-04T12:00:00+00:00").timestamp()),
    ("resets 3pm (UTC)", None),  # checked below: a zone given is honoured
    ("Rate limit reached", None),
    ("resets 13pm", None),
])
def test_reset_from_text(text, expected):
    if "(UTC)" in text:
        found = reset_from_text(text, NOW)
        assert found is not None and datetime.fromtimestamp(found, UTC).hour == 15
        return
    assert reset_from_text(text, NOW) == expected


def test_exits_and_tool_errors():
    assert classify_exit("0") is None and classify_exit("") is None
    crash = classify_exit("137")
    assert crash is not None and (crash.cls, crash.detail) == ("crash", "exit status 137")
    gone = classify_exit("tmux session gone: the tmux server exited")
    assert gone is not None and gone.cls == "crash" and gone.detail.startswith("tmux session")
    tool = classify_tool_error({"tool_name": "Bash", "error": "Exit code 2\nno such file",
                                "is_interrupt": False})
    assert (tool.cls, tool.detail) == ("tool_error", "Bash: Exit code 2 no such file")


def _session(failure):
    return SessionRecord(id="s1", name="a", provider="scripted", state=SessionState.IDLE,
                         cwd="/", tmux_session="sm-s1", parent_id=None, options={},
                         created_at=0, updated_at=0, failure=failure)


def _message():
    return MessageRecord(id="m1", sender_id=None, sender_label="operator", target_id="s1",
                         mode=DeliveryMode.SEQUENTIAL, body="hi", state=MessageState.QUEUED,
                         reason=None, attempts=0, notify_on_stop=False, receipt_seq=None,
                         receipt_conv=None, receipt_busy=False, notified=False, created_at=0,
                         updated_at=0, delivered_at=None, kind=MessageKind.TEXT)


def test_a_rate_limit_holds_deliveries_until_its_reset():
    asyncio.run(_holds())


async def _holds() -> None:
    clock = [NOW]
    health = Health(None, None, clock=lambda: clock[0])  # type: ignore[arg-type]
    limited = _session({"class": "rate_limit", "reset_at": NOW + 90, "detail": "x", "at": NOW})
    hold = await health.paused(limited)
    assert hold is not None and hold.until == NOW + 90
    assert hold.reason == "rate limited until 10:01:30"
    step = decide(SessionState.IDLE, "a", _message(), has_hooks=True, now=NOW, hold=hold)
    assert (step.action, step.wait) == (Action.HOLD, 90)
    clock[0] = NOW + 90
    assert await health.paused(limited) is None  # the reset passed
    clock[0] = NOW
    lifted = _session({"class": "rate_limit", "reset_at": NOW + 90, "lifted_at": NOW})
    assert await health.paused(lifted) is None  # a turn ended well since
    assert await health.paused(_session({"class": "rate_limit", "detail": "x"})) is None
    assert await health.paused(_session({"class": "overloaded", "reset_at": NOW + 9})) \
        is None


def test_the_scripted_fail_action():
    from sm.agents.scripted_script import Fail, ScriptError, load_script

    script = load_script("default: [{fail: overloaded}, {fail: {reset_in: 3}}]", "s.yaml")
    assert script.default == (Fail("overloaded"), Fail("rate_limit", "", 3.0))
    with pytest.raises(ScriptError, match="s.yaml: default: fail: unknown key 'reset'"):
        load_script("default: [{fail: {reset: 3}}]", "s.yaml")
    with pytest.raises(ScriptError, match="expected a name like rate_limit"):
        load_script("default: [{fail: 'Rate Limit'}]", "s.yaml")


def test_telegram_alerts_a_stall_and_a_failed_turn_not_a_tool_error():
    from sm.store.events import EventRecord
    from sm.telegram.mirror import _health

    rec = _session(None)
    stalled = _health(EventRecord(1, NOW, "s1", "health", {
        "check": "stalled", "detail": "running with no hook and no output for 10m"}), rec)
    assert [(o.op, o.silent) for o in stalled] == [("send", True), ("alert", False)]
    assert stalled[1].text.endswith("a stalled — running with no hook and no output for 10m")
    limited = _health(EventRecord(2, NOW, "s1", "health", {
        "check": "failure", "class": "rate_limit", "reset_at": NOW + 90,
        "detail": "rate_limit"}), rec)
    assert "a's turn failed — rate_limit until 10:01:30" in limited[1].text
    for cls in ("tool_error", "crash"):  # recorded only / alerted by its state change
        assert _health(EventRecord(3, NOW, "s1", "health", {"check": "failure",
                                                            "class": cls}), rec) == []
