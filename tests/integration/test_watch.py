"""sm watch: the real Textual app under its pilot against a real daemon."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import SPENDING_RULES

from sm.client import Client
from sm.watch.app import WatchApp

Runner = Callable[..., subprocess.CompletedProcess[str]]


def _row_state(app: WatchApp, name: str) -> str | None:
    for sid in app._order:
        rec = app.board.sessions[sid]
        if rec["name"] == name:
            table = app.query_one("#sessions")
            return str(table.get_cell(sid, "STATE"))  # type: ignore[attr-defined]
    return None


async def _until(pilot: Any, predicate: Callable[[], object], what: str,
                 timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await pilot.pause(0.05)


def test_watch_follows_a_session_and_its_keys_act(
    sm: Runner, sm_json: Callable[..., Any], sm_home: Path, script_file: Callable[..., Path],
) -> None:
    sm("daemon", "start")
    script = script_file({"rules": [
        {"match": "work", "actions": [{"sleep": 30}, {"say": "worked"}]},
        {"match": "deploy", "actions": [{"permission": "Bash"}, {"say": "deployed"}]},
    ]})
    attached: list[list[str]] = []
    client = Client(home=str(sm_home), token="", session_id="")
    app = WatchApp(client=client, attach=attached.append)

    async def main() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("l")  # live sessions only: a killed one leaves the list
            rec = await asyncio.to_thread(sm_json, "spawn", "scripted", "--name", "wt1",
                                          "--script", str(script))
            await _until(pilot, lambda: _row_state(app, "wt1") == "idle", "wt1 idle")
            await asyncio.to_thread(sm, "send", "wt1", "work")
            await _until(pilot, lambda: _row_state(app, "wt1") == "running", "wt1 running")
            await _until(pilot, lambda: _row_state(app, "wt1") == "idle", "wt1 idle again")
            # the pane shows the selected session's screen, read on its state change
            await _until(pilot, lambda: "worked" in str(app.query_one("#pane").render()),
                         "the pane to show the agent's screen")
            await pilot.press("a")
            assert attached and attached[0][-1] == f"=sm-{rec['id']}"
            assert attached[0][:2] == ["tmux", "-L"]
            await pilot.press("s")
            await pilot.press(*"hi from watch")
            await pilot.press("enter")

            def delivered() -> bool:
                msgs = sm_json("messages", "--to", "wt1")
                return any(m["body"].startswith("hi from watch") and m["state"] == "delivered"
                           for m in msgs)

            await _until(pilot, delivered, "the message sent with s to be delivered")
            await asyncio.to_thread(sm, "send", "wt1", "deploy")
            await _until(pilot, lambda: _row_state(app, "wt1") == "WAITING",
                         "wt1 waiting on its permission prompt")
            await pilot.press("y")
            await _until(pilot, lambda: app.board.sessions[rec["id"]].get("last_message")
                         == "deployed" and _row_state(app, "wt1") == "idle",
                         "y to approve the prompt")
            await pilot.press("k", "k")
            await _until(pilot, lambda: _row_state(app, "wt1") is None,
                         "wt1 to leave the live list once killed")
            assert app.board.sessions[rec["id"]]["state"] == "stopped"
            await pilot.press("q")

    asyncio.run(main())


def _cell(app: WatchApp, name: str, column: str) -> str | None:
    for sid in app._order:
        if app.board.sessions[sid]["name"] == name:
            table = app.query_one("#sessions")
            return str(table.get_cell(sid, column))  # type: ignore[attr-defined]
    return None




def test_watch_shows_each_sessions_cost_and_context_as_usage_is_read(
    sm: Runner, sm_json: Callable[..., Any], sm_home: Path, script_file: Callable[..., Path],
) -> None:
    sm("daemon", "start")
    script = script_file(SPENDING_RULES)
    client = Client(home=str(sm_home), token="", session_id="")
    app = WatchApp(client=client, attach=lambda argv: None)

    async def main() -> None:
        async with app.run_test(size=(100, 24)) as pilot:
            rec = await asyncio.to_thread(sm_json, "spawn", "scripted", "--name", "spender",
                                          "--script", str(script))
            await _until(pilot, lambda: _row_state(app, "spender") == "idle", "spender idle")
            assert _cell(app, "spender", "COST") == ""
            await asyncio.to_thread(sm, "send", "spender", "first")
            await _until(pilot, lambda: _cell(app, "spender", "COST") == "$0.61 · ctx 63%",
                         "the first turn's cost and context in the row")
            await asyncio.to_thread(sm, "send", "spender", "second")
            await _until(pilot, lambda: _cell(app, "spender", "COST") == "$0.69 · ctx 75%",
                         "the second turn's in the same row")
            assert app.board.sessions[rec["id"]]["cost_micros"] == 694_800
            assert "$0.69 · ctx 75%" in str(app.query_one("#pane").border_title)
            usage = [f["payload"] for f in app.board.feed
                     if f["kind"] == "usage" and f["session_id"] == rec["id"]]
            assert [u["cost_micros"] for u in usage] == [694_800, 607_800]  # newest first
            # what sm list says, the same
            listed = {s["name"]: s for s in sm_json("list")}
            assert listed["spender"]["cost_micros"] == 694_800
            await pilot.press("q")

    asyncio.run(main())


def test_watch_renders_100_sessions_at_80x24_and_updates_rows_in_place(tmp_path: Path) -> None:
    """No daemon: frames are fed straight in. A state event touches its row's cells
    only; the table is rebuilt only when the rows themselves change."""
    client = Client(home=str(tmp_path), token="", session_id="", autostart=False)
    app = WatchApp(client=client, attach=lambda argv: None)
    sessions = [{"id": f"s{i:03d}", "name": f"agent-{i:03d}", "provider": "scripted",
                 "state": "idle", "parent_id": f"s{i // 10 * 10:03d}" if i % 10 else None,
                 "created_at": time.time() - i, "tmux_session": f"sm-s{i:03d}",
                 "status_text": None, "last_message": "ready", "role": None}
                for i in range(100)]

    async def main() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            app.on_frame({"v": 1, "kind": "snapshot", "seq": 1, "ts": time.time(),
                          "session_id": None, "payload": {"sessions": sessions, "queues": {},
                                                          "locks": [], "asks": []}})
            await pilot.pause()
            table = app.query_one("#sessions")
            assert table.row_count == 100  # type: ignore[attr-defined]
            rebuilt: list[int] = []
            original = table.clear  # type: ignore[attr-defined]

            def counting_clear(*args: Any, **kwargs: Any) -> Any:
                rebuilt.append(1)
                return original(*args, **kwargs)

            table.clear = counting_clear  # type: ignore[attr-defined]
            start = time.perf_counter()
            for n in range(1000):
                sid = f"s{n % 100:03d}"
                state = "running" if n % 2 == 0 else "idle"
                app.on_frame({"v": 1, "kind": "state", "seq": n + 2, "ts": time.time(),
                              "session_id": sid, "payload": {"from": "idle", "to": state}})
            await pilot.pause()
            per_frame = (time.perf_counter() - start) / 1000 * 1000
            print(f"\nsm watch: {per_frame:.2f} ms per state frame with 100 sessions")
            assert rebuilt == []
            assert _row_state(app, "agent-099") == "idle"
            assert _row_state(app, "agent-098") == "running"
            await pilot.press("q")

    asyncio.run(main())
