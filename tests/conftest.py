"""Fixtures shared by every test layer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str | Callable[[], str] = "",
) -> T:
    """Call ``predicate`` until it returns something truthy and return that. Raises
    AssertionError after ``timeout`` seconds, naming what was awaited (``message``, or
    the predicate's name) and what the predicate last returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message() if callable(message) else message
            name = what or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(f"timed out after {timeout:g}s waiting for {name} "
                                 f"(last value: {value!r})")
        time.sleep(interval)


@pytest.fixture(name="wait_until")
def _wait_until() -> Callable[..., object]:
    """``wait_until(predicate, timeout=10, interval=0.05, message="")``."""
    return wait_until
