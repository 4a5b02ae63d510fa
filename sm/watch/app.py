"""``sm watch``: the full-screen terminal dashboard.

One reader of the event stream (a thread running the stdlib client's ``follow``, which
rides out daemon restarts) feeds a ``Board``; rows change only when a frame says so.
The selected session's screen is read when something happens to it (state, hook,
message), never on a timer; a pushed pane-output feed plugs in behind ``ScreenFeed``.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, Input, RichLog, Static

from sm.client import Client, quote_ref
from sm.errors import SmError
from sm.watch.board import COLUMNS, Board, cells, feed_line, pane_title, visible

Attach = Callable[[list[str]], None]


class ScreenFeed(Protocol):
    """The selected session's screen: ``read`` returns what it shows now. The app asks
    when something happened to the session. A pushed pane feed (the runtime's snapshot
    + output bytes with seq) fits here as the trigger and the source: its snapshot is
    the screen, each chunk (debounced) a reason to redraw."""

    def read(self, session: dict[str, Any], lines: int) -> str: ...


class CaptureFeed:
    """The screen as the daemon captures it (one request per change)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def read(self, session: dict[str, Any], lines: int) -> str:
        data = self.client.get(f"/sessions/{quote_ref(session['id'])}/output", lines=lines)
        return str(data["output"])


class WatchApp(App[None]):
    TITLE = "sm watch"
    CSS = """
    #sessions { height: 1fr; min-height: 5; }
    #pane { height: 9; border: round $primary-darken-2; padding: 0 1; }
    #feed { height: 5; border-top: solid $primary-darken-3; }
    #prompt { display: none; }
    #prompt.shown { display: block; }
    """
    BINDINGS: ClassVar[list[Binding | tuple[str, str] | tuple[str, str, str]]] = [
        Binding("enter", "attach", "attach", show=False),
        Binding("a", "attach", "attach"),
        Binding("s", "send", "send"),
        Binding("u", "urgent", "urgent"),
        Binding("y", "approve", "approve"),
        Binding("n", "deny", "deny"),
        Binding("A", "answer", "answer"),
        Binding("k", "kill", "kill"),
        Binding("r", "restore", "restore"),
        Binding("slash", "filter", "filter"),
        Binding("l", "live", "live/all"),
        Binding("escape", "cancel", "cancel", show=False),
        Binding("q", "quit", "quit"),
    ]

    def __init__(
        self, client: Client | None = None, attach: Attach | None = None,
        select: str | None = None, screen_feed: ScreenFeed | None = None,
    ) -> None:
        super().__init__()
        self.client = client or Client()
        self.board = Board()
        self.attach_fn = attach or self._attach_here
        self.screen_feed = screen_feed or CaptureFeed(self.client)
        self.select = select
        self.text_filter = ""
        self.live_only = False
        self._order: list[str] = []
        self._prompt_for = ""
        self._stop = threading.Event()
        self._refresh_due = False
        self._kill_armed: tuple[str, float] | None = None

    # -- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        table: DataTable[Text] = DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
        yield Vertical(table, Static("", id="pane"), RichLog(id="feed", max_lines=200),
                       Input(id="prompt"), Footer())

    def on_mount(self) -> None:
        table = self.query_one("#sessions", DataTable)
        for col in COLUMNS:
            table.add_column(col, key=col)
        threading.Thread(target=self._follow, name="sm-watch-stream", daemon=True).start()

    def on_unmount(self) -> None:
        self._stop.set()

    # -- the stream ----------------------------------------------------------------------
    def _follow(self) -> None:
        try:
            for frame in self.client.follow(snapshot=1, stop=self._stop.is_set,
                                            on_gap=self._gap):
                if self._stop.is_set():
                    return
                self.call_from_thread(self.on_frame, frame)
        except SmError as exc:
            if not self._stop.is_set():
                self.call_from_thread(self.notify, exc.message, severity="error")
        except RuntimeError:
            return  # the app closed while a frame was on its way

    def _gap(self, reason: str) -> None:
        if not self._stop.is_set():
            self.call_from_thread(self.notify, f"{reason}; reconnecting…", severity="warning")

    def on_frame(self, frame: dict[str, Any]) -> None:
        changed = self.board.apply(frame)
        if not changed:
            return
        if frame.get("kind") not in ("snapshot",):
            self.query_one("#feed", RichLog).write(feed_line(self.board, frame))
        if "?" in changed:
            self._schedule_refresh()
        self.render_rows(changed)
        selected = self.selected_id()
        if selected and (selected in changed or "*" in changed):
            self.refresh_pane()

    def _schedule_refresh(self) -> None:
        if self._refresh_due:
            return
        self._refresh_due = True
        self.set_timer(0.2, self._refresh_board)  # debounce a burst into one read

    def _refresh_board(self) -> None:
        self._refresh_due = False
        self.run_worker(self._read_snapshot, thread=True, exclusive=True, group="snapshot")

    def _read_snapshot(self) -> None:
        try:
            snap = self.client.get("/events/snapshot")
        except SmError:
            return
        self.call_from_thread(self._apply_snapshot, snap)

    def _apply_snapshot(self, snap: dict[str, Any]) -> None:
        self.board.load(snap["payload"])
        self.render_rows({"*"})

    # -- drawing -------------------------------------------------------------------------
    def render_rows(self, changed: set[str]) -> None:
        table = self.query_one("#sessions", DataTable)
        rows = visible(self.board, self.text_filter, self.live_only)
        order = [s["id"] for s, _ in rows]
        now = time.time()
        if order != self._order or "*" in changed or "?" in changed:
            keep = self.selected_id() or self.select
            table.clear()
            for s, depth in rows:
                table.add_row(*cells(self.board, s, depth, now, self.size.width), key=s["id"])
            self._order = order
            if keep in order:
                table.move_cursor(row=order.index(keep))
                self.select = None
            self.refresh_pane()
            return
        for s, depth in rows:
            if s["id"] in changed:
                row = cells(self.board, s, depth, now, self.size.width)
                for col, cell in zip(COLUMNS, row, strict=True):
                    table.update_cell(s["id"], col, cell)

    def on_resize(self) -> None:
        if self._order:
            self.render_rows({"*"})

    def selected_id(self) -> str | None:
        table = self.query_one("#sessions", DataTable)
        if not self._order or table.cursor_row is None or table.cursor_row >= len(self._order):
            return None
        return self._order[table.cursor_row]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_pane()

    def refresh_pane(self) -> None:
        sid = self.selected_id()
        pane = self.query_one("#pane", Static)
        pane.border_title = pane_title(self.board, sid)
        if sid is None:
            pane.update("")
            return
        rec = self.board.sessions[sid]
        if rec["state"] in ("exited", "stopped", "error"):
            pane.update(Text(f"{rec['state']}: press r to restore", style="dim"))
            return
        lines = max(3, pane.size.height or 7)
        self.run_worker(lambda: self._read_screen(rec, lines), thread=True, exclusive=True,
                        group="pane")

    def _read_screen(self, rec: dict[str, Any], lines: int) -> None:
        try:
            text = self.screen_feed.read(rec, lines)
        except SmError as exc:
            text = exc.message
        shown = "\n".join(text.rstrip("\n").splitlines()[-lines:])
        self.call_from_thread(self._show_screen, rec["id"], shown)

    def _show_screen(self, sid: str, text: str) -> None:
        if sid == self.selected_id():
            self.query_one("#pane", Static).update(Text(text, no_wrap=True, overflow="crop"))

    # -- actions -------------------------------------------------------------------------
    def _selected(self) -> dict[str, Any] | None:
        sid = self.selected_id()
        if sid is None:
            self.notify("no session selected", severity="warning")
            return None
        return self.board.sessions[sid]

    def _call(self, what: str, method: str, path: str, body: Any = None) -> None:
        def run() -> None:
            try:
                out = self.client.request(method, path, body)
            except SmError as exc:
                self.call_from_thread(self.notify, f"{what}: {exc.message}", severity="error")
                return
            self.call_from_thread(self.notify, _said(what, out))

        self.run_worker(run, thread=True, group="actions")

    def action_attach(self) -> None:
        rec = self._selected()
        if rec is None or rec["state"] in ("exited", "stopped", "error"):
            return
        socket = self.client.get("/health")["tmux_socket"]
        self.attach_fn(["tmux", "-L", socket, "attach-session", "-t", f"={rec['tmux_session']}"])

    def _attach_here(self, argv: list[str]) -> None:
        with self.suspend():
            subprocess.run(argv, check=False)

    def _ask(self, purpose: str, placeholder: str) -> None:
        prompt = self.query_one("#prompt", Input)
        self._prompt_for = purpose
        prompt.placeholder = placeholder
        prompt.value = self.text_filter if purpose == "filter" else ""
        prompt.add_class("shown")
        prompt.focus()

    def action_send(self) -> None:
        rec = self._selected()
        if rec is not None:
            self._ask("send", f"message to {self.board.label(rec['id'])} (Enter sends)")

    def action_urgent(self) -> None:
        rec = self._selected()
        if rec is not None:
            self._ask("urgent", f"URGENT to {self.board.label(rec['id'])}: interrupts its turn")

    def action_answer(self) -> None:
        rec = self._selected()
        asks = self.board.asks_of(rec["id"]) if rec else []
        if rec is not None and not asks:
            self.notify(f"{self.board.label(rec['id'])} has no open question")
        elif asks:
            self._ask("answer", f"answer: {asks[0]['question'][:60]}")

    def action_filter(self) -> None:
        self._ask("filter", "filter by name, state, provider, role, status")

    def action_cancel(self) -> None:
        prompt = self.query_one("#prompt", Input)
        prompt.remove_class("shown")
        self.query_one("#sessions", DataTable).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text, purpose = event.value, self._prompt_for
        self.action_cancel()
        rec = self.board.sessions.get(self.selected_id() or "")
        if purpose == "filter":
            self.text_filter = text
            self.render_rows({"*"})
        elif purpose in ("send", "urgent") and rec and text.strip():
            mode = "urgent" if purpose == "urgent" else "sequential"
            self._call("send", "POST", "/messages",
                       {"targets": [rec["id"]], "body": text, "mode": mode})
        elif purpose == "answer" and rec and text.strip():
            ask = self.board.asks_of(rec["id"])[0]
            self._call("answer", "POST", f"/asks/{ask['id']}/answer", {"answer": text})

    def action_approve(self) -> None:
        rec = self._selected()
        if rec is not None:
            self._call("approve", "POST", f"/sessions/{rec['id']}/answer", {"decision": "allow"})

    def action_deny(self) -> None:
        rec = self._selected()
        if rec is not None:
            self._call("deny", "POST", f"/sessions/{rec['id']}/answer", {"decision": "deny"})

    def action_kill(self) -> None:
        rec = self._selected()
        if rec is None:
            return
        armed = self._kill_armed
        if armed and armed[0] == rec["id"] and time.monotonic() - armed[1] < 3:
            self._kill_armed = None
            self._call("kill", "POST", f"/sessions/{rec['id']}/kill")
        else:
            self._kill_armed = (rec["id"], time.monotonic())
            self.notify(f"press k again to kill {self.board.label(rec['id'])}")

    def action_restore(self) -> None:
        rec = self._selected()
        if rec is not None:
            self._call("restore", "POST", f"/sessions/{rec['id']}/restore")

    def action_live(self) -> None:
        self.live_only = not self.live_only
        self.render_rows({"*"})


def _said(what: str, out: Any) -> str:
    if what == "send" and isinstance(out, dict) and out.get("items"):
        m = out["items"][0]
        return f"message {m['id']} {m['state']}"
    return f"{what}: done"


def run(select: str | None = None) -> None:
    WatchApp(select=select).run()
