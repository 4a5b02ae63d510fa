"""Budgets: amounts, the hold on deliveries, and the Telegram alert (pure logic)."""

from __future__ import annotations

import pytest

from sm.core.budgets import dollars, parse_amount
from sm.core.delivery.decide import Action, Hold, decide
from sm.errors import InvalidInput
from sm.store.events import EventRecord
from sm.store.messages import MessageRecord
from sm.telegram.mirror import _budget
from sm.vocab import DeliveryMode, EventKind, MessageKind, MessageState, SessionState


@pytest.mark.parametrize(("text", "micros"), [
    ("$1.50", 1_500_000), ("$0.000001", 1), ("$1,000", 1_000_000_000), ("$.5", 500_000),
    ("1500000", 1_500_000), (" 42 ", 42),
])
def test_amounts(text: str, micros: int) -> None:
    assert parse_amount(text) == micros


@pytest.mark.parametrize("text", ["1.5", "$", "$1.0000001", "-3", "$-1", "1e6", "", "$0", "0",
                                  "$1.2.3", "1,000"])
def test_bad_amounts_name_the_value_and_what_was_expected(text: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_amount(text, "budgets.day")
    assert "budgets.day" in err.value.message and repr(text) in err.value.message


def test_dollars() -> None:
    assert [dollars(m) for m in (20_000, 36_000, 1_500_000, 1, 1_234_567_890)] == [
        "$0.02", "$0.036", "$1.50", "$0.000001", "$1,234.56789"]


def _msg(mode: DeliveryMode) -> MessageRecord:
    return MessageRecord(
        id="0123456789abcdef", sender_id=None, sender_label="operator", target_id="t",
        mode=mode, body="hi", state=MessageState.QUEUED, reason=None, attempts=0,
        notify_on_stop=False, receipt_seq=None, receipt_conv=None, receipt_busy=False,
        notified=False, created_at=0.0, updated_at=0.0, delivered_at=None,
        kind=MessageKind.TEXT)


@pytest.mark.parametrize("state", [SessionState.IDLE, SessionState.RUNNING])
@pytest.mark.parametrize("mode", list(DeliveryMode))
def test_a_hold_holds_every_message_even_urgent(state: SessionState, mode: DeliveryMode
                                                ) -> None:
    step = decide(state, "w", _msg(mode), has_hooks=True, now=100.0,
                  hold=Hold("paused: budget — x"))
    assert (step.action, step.reason, step.wait) == (Action.HOLD, "paused: budget — x", None)
    timed = decide(state, "w", _msg(mode), has_hooks=True, now=100.0,
                   hold=Hold("paused: budget — day", until=160.0))
    assert timed.wait == 60.0


def test_a_hold_never_keeps_a_dead_target_or_an_expired_message() -> None:
    hold = Hold("paused: budget")
    assert decide(SessionState.EXITED, "w", _msg(DeliveryMode.SEQUENTIAL), has_hooks=True,
                  now=0.0, hold=hold).action == Action.FAIL


def _event(**payload: object) -> EventRecord:
    return EventRecord(seq=1, ts=0.0, session_id="s", kind=EventKind.BUDGET, payload=payload)


def test_budget_alerts() -> None:
    warn = _budget(_event(scope="session", key="s", label="w", level="warn", percent=90.0,
                          spent_micros=18000, limit_micros=20000))
    assert len(warn) == 1 and "session w's budget is at 90% ($0.018 of $0.02)" in warn[0].text
    stop = _budget(_event(scope="day", key="", level="exceeded", stop=True,
                          spent_micros=2_000_000, limit_micros=1_000_000))
    assert "today's budget is reached ($2.00 of $1.00): turns interrupted" in stop[0].text
    assert _budget(_event(scope="day", level="", change="set")) == []
    assert _budget(_event(scope="day", level="exceeded", change="set")) == []
