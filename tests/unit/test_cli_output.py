"""The pure pieces of what the CLI prints: tables that fit, cells cut (never wrapped),
and the progress spinner on a terminal."""

from __future__ import annotations

import io
import time

from sm.cli.output import progress
from sm.cli.tables import Column, cut, table
from sm.cli.views import format_session, format_sessions


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_says_what_it_waits_for_on_a_terminal_only() -> None:
    tty = _Terminal()
    with progress("waiting for the daemon (pid 7) to stop", stream=tty, delay=0.0):
        time.sleep(0.3)
    out = tty.getvalue()
    assert "waiting for the daemon (pid 7) to stop (0s)" in out
    assert out.endswith("\r\x1b[K")  # erased at the end
    pipe = io.StringIO()
    with progress("anything", stream=pipe, delay=0.0):
        time.sleep(0.2)
    assert pipe.getvalue() == ""


def test_cut_marks_what_it_took() -> None:
    assert cut("abcdefghij", 10) == "abcdefghij"
    assert cut("abcdefghij", 6) == "abcde…"
    assert cut("/a/long/path/x", 6, "start") == "…ath/x"
    assert cut("worker-alpha-17", 9) == "worker-a…"
    assert cut("worker-alpha-17", 9, "middle") == "work…a-17"


def test_table_shrinks_the_lowest_order_first_and_keeps_headers_whole() -> None:
    cols = [Column("NAME", min=6, order=2), Column("STATE"), Column("TEXT", min=6, order=1)]
    rows = [["a-very-long-name", "waiting_permission", "some long free text here"]]
    out = table(cols, rows, cols=50)
    assert max(len(line) for line in out.splitlines()) <= 50
    assert "a-very-long-name" in out  # TEXT gave way first
    out = table(cols, rows, cols=36)
    assert max(len(line) for line in out.splitlines()) <= 36
    assert out.splitlines()[0].split() == ["NAME", "STATE", "TEXT"]


def test_sessions_fit_narrow_terminals_and_name_the_parent() -> None:
    now = time.time()
    parent = {"id": "p" * 10, "name": "orchestrator-with-a-long-name", "provider": "scripted",
              "state": "waiting_permission", "created_at": now - 90, "parent_id": None,
              "status_text": "dispatching " * 10}
    child = {**parent, "id": "c" * 10, "name": "worker-1", "state": "idle",
             "parent_id": parent["id"]}
    for cols in (80, 100):
        out = format_sessions([parent, child], now=now, cols=cols)
        assert max(len(line) for line in out.splitlines()) <= cols, out
    assert "p" * 10 not in format_sessions([parent, child], now=now, cols=80).splitlines()[2]


def test_show_wraps_long_values_under_their_field() -> None:
    s = {"id": "abc", "name": "n", "provider": "shell", "state": "idle", "cwd": "/x/" * 40,
         "created_at": 0.0, "tmux_session": "sm-abc", "status_text": "word " * 40}
    out = format_session(s, cols=80)
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "       status: word word" in out
