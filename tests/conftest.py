"""Fixtures shared by every test layer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import leftovers
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


# -- nothing left behind ---------------------------------------------------------------------
# Every SM_HOME and private tmux server the fixtures make is recorded here; when the run
# ends, whatever of them is still there fails the run (and is cleaned up).
_MADE = pytest.StashKey[leftovers.Made]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_MADE] = leftovers.Made()


@pytest.fixture
def made(request: pytest.FixtureRequest) -> leftovers.Made:
    """The run's record of the SM_HOMEs (``made.homes``) and tmux sockets
    (``made.sockets``) it created: append to it whatever a fixture makes."""
    return request.config.stash[_MADE]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    made = session.config.stash.get(_MADE, None)
    if made is None:
        return
    left = leftovers.find(made)
    if not left:
        return
    leftovers.clean(made)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = ["the run left these behind (now removed):", *(f"  {x}" for x in left)]
    if reporter is not None:
        reporter.write_sep("=", "left behind", red=True)
        for text in lines:
            reporter.write_line(text)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
