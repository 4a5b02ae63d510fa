"""Durations as typed (jobs' --every/--in/--max-time, reminders, sm prune --older-than)."""

from __future__ import annotations

import pytest

from sm.durations import format_duration, parse_duration
from sm.errors import InvalidInput


def test_the_shapes_people_type() -> None:
    assert parse_duration("90") == 90
    assert parse_duration("1h30m") == 5400
    assert parse_duration(" 2D ") == 2 * 86400
    assert parse_duration("1.5m") == 90
    assert format_duration(5400) == "1h30m" and format_duration(0) == "0s"


@pytest.mark.parametrize("text, why", [
    ("", "expected e.g."), ("5x", "expected e.g."), ("m", "expected e.g."),
    ("0s", "more than 0"), ("400d", "at most 366 days"), ("9" * 400, "at most 366 days"),
])
def test_bad_ones_are_named_with_what_they_are(text: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=f"invalid backoff .*{why}"):
        parse_duration(text, "backoff")
