"""sm watch's render logic on fixed data (no terminal), and that Textual stays off
every other command's path."""

from __future__ import annotations

import json
import subprocess
import sys

from sm.watch.board import (
    Board,
    activity,
    cells,
    feed_line,
    pane_title,
    spent,
    tree,
    visible,
)

NOW = 1_000_000.0


def _s(sid: str, state: str = "idle", parent: str | None = None, t: float = 0.0,
       **kw: object) -> dict[str, object]:
    return {"id": sid, "name": kw.pop("name", sid), "provider": "scripted", "state": state,
            "parent_id": parent, "created_at": NOW - 100 + t, "tmux_session": f"sm-{sid}",
            "status_text": None, "last_message": None, "role": None, **kw}


def _board() -> Board:
    b = Board()
    b.apply({"kind": "snapshot", "seq": 10, "payload": {
        "sessions": [_s("orch", t=0), _s("w2", "running", "orch", t=2),
                     _s("w1", parent="orch", t=1), _s("solo", "exited", t=3),
                     _s("w1a", parent="w1", t=4)],
        "queues": {"w1": 2}, "locks": [{"session_id": "w1", "path": "/a"}],
        "asks": [{"id": "q1", "session_id": "w2", "question": "ship it?", "choices": []}],
    }})
    return b


def test_the_tree_puts_children_under_their_parent_in_creation_order() -> None:
    order = [(s["id"], d) for s, d in tree(list(_board().sessions.values()))]
    assert order == [("orch", 0), ("w1", 1), ("w1a", 2), ("w2", 1), ("solo", 0)]


def test_rows_filter_by_text_and_liveness() -> None:
    b = _board()
    assert [s["id"] for s, _ in visible(b, live_only=True)] == ["orch", "w1", "w1a", "w2"]
    assert [s["id"] for s, _ in visible(b, "RUNNING")] == ["w2"]
    assert [s["id"] for s, _ in visible(b, "w1")] == ["w1", "w1a"]


def test_cells_show_state_queue_locks_and_fit_80_columns() -> None:
    b = _board()
    row = cells(b, b.sessions["w1a"], 2, NOW, width=80)
    assert row[0].plain == "  └ w1a"
    assert [c.plain for c in cells(b, b.sessions["w1"], 1, NOW)][5:] == ["1m", "2", "1"]
    long = _s("x" * 40, last_message="y" * 200, cost_micros=123_456_789,
              unpriced_models=["mystery"], context={"tokens": 190_000, "window": 200_000,
                                                    "percent": 95.0})
    b.sessions[long["id"]] = long  # type: ignore[index]
    plain = [c.plain for c in cells(b, long, 0, NOW, width=80)]  # type: ignore[arg-type]
    assert plain[3] == "$123+? · ctx 95%"
    assert sum(len(p) for p in plain) + 2 * len(plain) <= 80
    assert str(cells(b, b.sessions["w2"], 1, NOW)[2].style) == "bold green"


def test_events_update_states_tools_and_messages() -> None:
    b = _board()
    assert b.apply({"kind": "state", "seq": 11, "session_id": "w1", "ts": NOW,
                    "payload": {"from": "idle", "to": "running"}}) == {"w1"}
    assert b.sessions["w1"]["state"] == "running"
    b.apply({"kind": "hook", "seq": 12, "session_id": "w1", "ts": NOW,
             "payload": {"event": "PreToolUse", "data": {"tool_name": "Bash"}}})
    assert activity(b, b.sessions["w1"]) == "⚙ Bash"
    b.apply({"kind": "hook", "seq": 13, "session_id": "w1", "ts": NOW,
             "payload": {"event": "Stop", "data": {"last_assistant_message": "done\nmore"}}})
    assert activity(b, b.sessions["w1"]) == "done"
    assert "?" in b.apply({"kind": "spawned", "seq": 14, "session_id": "new", "ts": NOW,
                           "payload": {}})
    assert b.apply({"kind": "keepalive", "seq": 0}) == set() and b.seq == 14
    assert [e["seq"] for e in b.feed] == [14, 13, 12, 11]
    assert "idle → running" in feed_line(b, b.feed[-1]).plain
    assert pane_title(b, "w2") == "w2 · scripted · running · 1 question(s)"


def test_cost_and_context_show_from_the_snapshot_and_follow_usage_events() -> None:
    b = _board()
    assert spent(b.sessions["w1"]) == "" and cells(b, b.sessions["w1"], 1, NOW)[3].plain == ""
    b.load({"sessions": [_s("w1", cost_micros=420_000, unpriced_models=[],
                            context={"tokens": 126_000, "window": 200_000, "percent": 63.0})]})
    assert cells(b, b.sessions["w1"], 0, NOW)[3].plain == "$0.42 · ctx 63%"
    # a usage event changes only that row, in place
    changed = b.apply({"kind": "usage", "seq": 11, "session_id": "w1", "ts": NOW, "payload": {
        "cost_micros": 1_250_000, "unpriced_models": [], "responses": 2,
        "context": {"tokens": 150_000, "window": 200_000, "percent": 75.0}}})
    assert changed == {"w1"}
    assert cells(b, b.sessions["w1"], 0, NOW)[3].plain == "$1.25 · ctx 75%"
    assert pane_title(b, "w1") == "w1 · scripted · idle · $1.25 · ctx 75%"
    assert feed_line(b, b.feed[0]).plain.endswith("usage    $1.25 · ctx 75%")
    # an unknown window: tokens
    b.apply({"kind": "usage", "seq": 12, "session_id": "w1", "ts": NOW, "payload": {
        "cost_micros": 0, "unpriced_models": ["mystery"], "responses": 1,
        "context": {"tokens": 120_000, "window": None, "percent": None}}})
    assert spent(b.sessions["w1"]) == "? · ctx 120k"


def test_a_held_spawn_says_why_it_waits() -> None:
    b = _board()
    held = _s("h1", "starting", launch_hold={"reason": "claude is rate limited until 10:01:30"})
    b.sessions["h1"] = held
    assert activity(b, held) == "held: claude is rate limited until 10:01:30"
    assert "?" in b.apply({"kind": "launched", "seq": 11, "session_id": "h1", "ts": NOW,
                           "payload": {"argv": ["x"], "held_for": 9.0}})


def test_textual_is_imported_only_by_sm_watch() -> None:
    code = ("import sys, sm.cli.app as a, sm.cli.main, sm.client, sm.web.app; "
            "a.build() if hasattr(a, 'build') else None; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'textual')))")
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
