"""The event stream: snapshot on subscribe, backfill from any seq, live order across a
daemon restart, readers that reconnect by themselves, and a reader that never reads."""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sm.client import Client

SM_BIN = str(Path(sys.executable).with_name("sm"))
Runner = Callable[..., subprocess.CompletedProcess[str]]


class Follower:
    """``Client.follow`` in a thread, collecting frames (the real stdlib client)."""

    def __init__(self, home: Path, token: str = "", **query: Any) -> None:
        self.frames: list[dict[str, Any]] = []
        self.gaps: list[str] = []
        self.client = Client(home=str(home), token=token, session_id="", autostart=False)
        self._query = query
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for item in self.client.follow(on_gap=self.gaps.append, **self._query):
            self.frames.append(item)

    def events(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["kind"] not in ("snapshot", "resync", "keepalive")]

    def seqs(self) -> list[int]:
        return [f["seq"] for f in self.events()]


def _all_events(sm_json: Callable[..., Any]) -> list[dict[str, Any]]:
    return sm_json("events", "--after", "0", "-n", "100000")


def test_snapshot_backfill_and_live_order_across_a_restart(
    sm: Runner, sm_json: Callable[..., Any], spawn: Callable[..., dict[str, Any]],
    sm_home: Path, wait_until: Callable[..., Any], stop_daemon: Callable[[], int],
) -> None:
    a = spawn("--name", "a1")
    sm("send", "a1", "before")
    wait_until(lambda: sm_json("messages", "--to", "a1")[0]["state"] == "delivered")
    mid = _all_events(sm_json)[len(_all_events(sm_json)) // 2]["seq"]

    snap = Follower(sm_home, snapshot=1)
    back = Follower(sm_home, after=mid)
    wait_until(lambda: snap.frames, message="the snapshot")
    first = snap.frames[0]
    assert first["kind"] == "snapshot" and first["v"] == 1
    assert {"sessions", "queues", "locks", "asks"} <= set(first["payload"])
    assert [s["name"] for s in first["payload"]["sessions"]] == ["a1"]
    assert first["seq"] == _all_events(sm_json)[-1]["seq"]

    sm("send", "a1", "live one")
    stop_daemon()
    wait_until(lambda: snap.gaps and back.gaps, message="both readers to see the daemon go")
    sm("send", "a1", "while it was away")  # starts a new daemon
    sm("send", "a1", "after the restart")
    want = _all_events(sm_json)
    last = want[-1]["seq"]
    wait_until(lambda: snap.seqs() and snap.seqs()[-1] >= last and back.seqs()
               and back.seqs()[-1] >= last, timeout=15, message="both readers to catch up")
    # no gap, no duplicate, in seq order
    got_snap, got_back = snap.seqs(), back.seqs()
    store = [e["seq"] for e in _all_events(sm_json)]
    assert got_snap == [s for s in store if first["seq"] < s <= got_snap[-1]]
    assert got_back == [s for s in store if mid < s <= got_back[-1]]
    bodies = [e["payload"].get("id") for e in back.events() if e["kind"] == "message"]
    assert bodies, "message events came through"
    assert a["id"] in {e["session_id"] for e in snap.events()}


def test_filters_by_session_and_kind(
    sm: Runner, spawn: Callable[..., dict[str, Any]], sm_home: Path,
    wait_until: Callable[..., Any],
) -> None:
    a, b = spawn("--name", "fa"), spawn("--name", "fb")
    only_b = Follower(sm_home, session="fb", kind="state")
    snap_b = Follower(sm_home, session="fb", snapshot=1)
    wait_until(lambda: snap_b.frames)
    assert [s["id"] for s in snap_b.frames[0]["payload"]["sessions"]] == [b["id"]]
    sm("send", "fa", "to a")
    sm("send", "fb", "to b")
    wait_until(lambda: any(e["payload"]["to"] == "idle" for e in only_b.events())
               and len(only_b.events()) >= 2, message="b's state changes")
    assert {e["session_id"] for e in only_b.events()} == {b["id"]}
    assert {e["kind"] for e in only_b.events()} == {"state"}
    assert a["id"] not in json.dumps(only_b.frames)


def test_events_follow_survives_a_daemon_restart(
    sm: Runner, sm_env: dict[str, str], spawn: Callable[..., dict[str, Any]], sm_home: Path,
    sm_json: Callable[..., Any], wait_until: Callable[..., Any],
) -> None:
    spawn("--name", "r1")
    proc = subprocess.Popen([str(SM_BIN), "events", "--follow", "--json", "-n", "1"],
                            env=sm_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=sm_home)
    lines: list[dict[str, Any]] = []
    reader = threading.Thread(
        target=lambda: [lines.append(json.loads(x)) for x in proc.stdout or []], daemon=True)
    reader.start()
    try:
        wait_until(lambda: lines, message="the first event")
        sm("daemon", "restart")
        sm("send", "r1", "after restart")
        last = _all_events(sm_json)[-1]["seq"]
        wait_until(lambda: lines[-1]["seq"] >= last, timeout=15,
                   message="sm events --follow to show events after the restart")
        assert proc.poll() is None, "sm events --follow died with the daemon"
        seqs = [e["seq"] for e in lines]
        assert seqs == sorted(set(seqs))
        assert seqs == list(range(seqs[0], last + 1))  # every event since, once
    finally:
        proc.terminate()
        proc.communicate(timeout=5)
        reader.join(timeout=5)


def test_sm_wait_survives_a_daemon_restart(
    sm: Runner, sm_env: dict[str, str], spawn: Callable[..., dict[str, Any]],
    script_file: Callable[..., Path], wait_state: Callable[..., dict[str, Any]],
    sm_home: Path,
) -> None:
    script = script_file({"rules": [{"match": "slow", "actions": [{"sleep": 60}]}]})
    spawn("--name", "w1", script=script)  # sleep 60 × speed 0.05: a 3 s turn
    sm("send", "w1", "slow")
    wait_state("w1", "running")
    proc = subprocess.Popen([str(SM_BIN), "wait", "w1", "--timeout", "30"], env=sm_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=sm_home)
    try:
        time.sleep(0.3)  # let it block in the daemon
        sm("daemon", "restart")
        out, err = proc.communicate(timeout=40)
        assert proc.returncode == 0, (out, err)
        assert "w1 is idle" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)


def _delivery_latency(sm: Runner, sm_json: Callable[..., Any], target: str, n: int,
                      wait_until: Callable[..., Any]) -> list[float]:
    out = []
    for i in range(n):
        start = time.monotonic()
        # a 20 KB body: its UserPromptSubmit event fills a stalled reader's buffers fast
        mid = sm_json("send", target, f"ping {i} " + "x" * 20000)[0]["id"]
        wait_until(lambda mid=mid: sm_json("message", mid)["state"] == "delivered",
                   timeout=10, interval=0.01)
        out.append(time.monotonic() - start)
    return out


def test_a_reader_that_never_reads_does_not_slow_delivery(
    sm: Runner, sm_json: Callable[..., Any], spawn: Callable[..., dict[str, Any]],
    sm_home: Path, sm_env: dict[str, str], wait_until: Callable[..., Any],
) -> None:
    env = {"SM_STREAM_BUFFER": "20"}
    sm("daemon", "start", env=env)
    spawn("--name", "s1", env=env)
    baseline = _delivery_latency(sm, sm_json, "s1", 8, wait_until)
    after = _all_events(sm_json)[-1]["seq"]

    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(str(sm_home / "sm.sock"))
    stalled.sendall(f"GET /events/stream?after={after} HTTP/1.1\r\nHost: sm\r\n\r\n".encode())
    try:
        # enough traffic to fill the socket buffers and the 20-event subscriber buffer
        busy = _delivery_latency(sm, sm_json, "s1", 40, wait_until)
        print(f"\ndelivery latency p50 without a stalled reader "
              f"{statistics.median(baseline) * 1000:.0f} ms, with one "
              f"{statistics.median(busy) * 1000:.0f} ms")
        assert statistics.median(busy) < max(1.0, 5 * statistics.median(baseline))
        # the stalled reader, reading at last, is told what it missed and gets it all
        last = _all_events(sm_json)[-1]["seq"]
        stalled.settimeout(10)
        data = b""
        while f'"seq": {last},'.encode() not in data:
            chunk = stalled.recv(65536)
            assert chunk, "the daemon closed the stalled reader"
            data += chunk
        frames = [json.loads(line[6:]) for line in data.decode(errors="replace").split("\n")
                  if line.startswith("data: ")]
        assert any(f["kind"] == "resync" for f in frames), "the reader was told it fell behind"
        seqs = [f["seq"] for f in frames if f["kind"] not in ("resync", "keepalive")]
        assert seqs == list(range(after + 1, last + 1))
    finally:
        stalled.close()


def test_unknown_session_is_refused_on_the_stream(sm_home: Path, sm: Runner) -> None:
    sm("daemon", "start")
    client = Client(home=str(sm_home), token="", session_id="")
    try:
        next(client.stream("/events/stream", session="nobody"))
    except Exception as exc:  # noqa: BLE001 - asserting the type below
        assert type(exc).__name__ == "NotFound"
    else:
        raise AssertionError("a stream for an unknown session was served")




def test_the_websocket_carries_the_same_frames(
    sm: Runner, spawn: Callable[..., dict[str, Any]], sm_home: Path,
    sm_json: Callable[..., Any],
) -> None:
    from websockets.sync.client import unix_connect

    a = spawn("--name", "ws1")
    with unix_connect(str(sm_home / "sm.sock"), "ws://sm/events/ws?snapshot=1&kind=state",
                      open_timeout=10) as ws:
        snap = json.loads(ws.recv(timeout=10))
        assert snap["kind"] == "snapshot" and snap["payload"]["sessions"][0]["id"] == a["id"]
        sm("send", "ws1", "over the socket")
        got = [json.loads(ws.recv(timeout=10)) for _ in range(2)]
    assert [(f["kind"], f["payload"]["to"]) for f in got] == [("state", "running"),
                                                              ("state", "idle")]
    store = [e["seq"] for e in _all_events(sm_json) if e["kind"] == "state"]
    assert [f["seq"] for f in got] == store[-2:]


def test_a_session_reads_only_its_own_tree(
    sm: Runner, spawn: Callable[..., dict[str, Any]], sm_home: Path,
    session_env: Callable[[str], dict[str, str | None]], wait_until: Callable[..., Any],
) -> None:
    parent = spawn("--name", "tp")
    other = spawn("--name", "tx")
    token = session_env(parent["id"])["SM_SESSION_TOKEN"] or ""
    sm("spawn", "scripted", "--name", "tc", env={"SM_SESSION_TOKEN": token})
    reader = Follower(sm_home, token=token, snapshot=1)
    wait_until(lambda: reader.frames, message="the session's snapshot")
    names = sorted(s["name"] for s in reader.frames[0]["payload"]["sessions"])
    assert names == ["tc", "tp"]
    sm("send", "tx", "not for tp's eyes")
    sm("send", "tc", "for the tree")
    wait_until(lambda: any(e["kind"] == "message" and e["payload"]["state"] == "delivered"
                           for e in reader.events()), message="the child's message delivered")
    # tx's events came first in the log: had the reader been sent them, they'd be here
    assert other["id"] not in {e["session_id"] for e in reader.events()}
