"""State truth: what sm shows against what a real Claude Code does, sampled every 100 ms.

    .venv/bin/python bench/state_truth.py [--turns 40] [--seed 1] [--interval 0.1]
                                          [--window 0.25]

One real Claude Code session (``sm spawn claude``, the pinned CLI) on a private daemon and
tmux server talks to the scripted Anthropic server on loopback. The driver runs rounds of
scenarios until at least ``--turns`` model turns have run: plain text, a Bash tool call,
a stall (a pause in the stream), a sequential message queued during a turn, an important
message taken mid-stream (the turn it is owed), a human's Escape (during the stream or
during a tool call, sometimes with a message queued), an urgent message after the turn's
first output and one before it (its prompt is put back, then re-run). Meanwhile a
sampler thread reads the session's state over the daemon's socket every ``--interval``
and records (time, state).

Ground truth comes from the model server and the driver's own actions, never from sm:

* **truly running** — from the arrival of a turn's first model request until the end of
  its final response: the response that ended the turn (``end_turn``) was written in full,
  or the turn was interrupted. A tool call keeps the turn running from the end of the
  ``tool_use`` response to the arrival of the request carrying its result. An interrupt
  ends the turn when the agent hangs up an in-flight response (the server notices within
  50 ms), or, during a tool call, when the composer is back in the pane after the
  driver's Escape (the pane is read every 20 ms).
* **truly idle** — every other moment while the agent is up (the measured span starts
  after the spawn reached idle and ends after the last turn).

A true transition is a boundary of the union of the running spans. Precision and recall
of ``running`` and of ``idle`` count the samples more than ``--window`` away from every
true transition (a tool gap that ended with no request and no Escape of the driver's is
of unknown truth: its samples are left out and counted). Each edge's lag is sm's own
state event (its commit time, in the daemon's event log) minus the true transition:
sm's entry into the new state nearest the edge and between its neighbours; an edge sm
never showed (it held its state across a true gap, e.g. the moment between a turn's end
and the turn it owes) is counted apart with the gap's length. Prints figures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import agents  # noqa: E402
from _harness import SM, daemon, wait_until  # noqa: E402
from model_servers import AnthropicServer, Bash, Item, RecordedRequest, Sleep, Text, Turn  # noqa: E402

from sm.client import Client  # noqa: E402
from sm.config import tmux_socket_for  # noqa: E402

RUNNING, IDLE = "running", "idle"
CONVERSATION = ("turn", "continue", "default")


def _env(home: str, claude_url: str) -> dict[str, str]:
    return {
        "HOME": home,  # no agent reads the real user's login
        "ANTHROPIC_BASE_URL": claude_url,
        "ANTHROPIC_API_KEY": agents.FAKE_ANTHROPIC_KEY,
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "IS_SANDBOX": "1",  # as root, bypass mode exits at once without it
        "SM_CLAUDE_BINARY": str(agents.claude_bin()),
        "SM_CLAUDE_PERMISSION_MODE": "bypassPermissions",
    }


def _events(client: Client, sid: str, kind: str) -> list[dict[str, Any]]:
    """All the session's events of ``kind``, oldest first (following the page cursor)."""
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        page = client.get("/events", session=sid, kind=kind, after=after, limit=500)
        out.extend(page["items"])
        if not page.get("next"):
            return out
        after = page["next"]


# --------------------------------------------------------------------------------------------
# Sampling sm
# --------------------------------------------------------------------------------------------


class Sampler(threading.Thread):
    """Reads the session's state every ``interval``; each sample is stamped with the middle
    of its request."""

    def __init__(self, client: Client, sid: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.client, self.sid, self.interval = client, sid, interval
        self.samples: list[tuple[float, str]] = []
        self.errors = 0
        self.halt = threading.Event()

    def run(self) -> None:
        tick = time.monotonic()
        while not self.halt.is_set():
            t0 = time.monotonic()
            try:
                state = str(self.client.get(f"/sessions/{self.sid}")["state"])
            except Exception:  # noqa: BLE001 - counted, never fatal to a benchmark
                self.errors += 1
            else:
                self.samples.append(((t0 + time.monotonic()) / 2, state))
            tick += self.interval
            self.halt.wait(max(0.0, tick - time.monotonic()))


# --------------------------------------------------------------------------------------------
# Driving the agent
# --------------------------------------------------------------------------------------------


@dataclass
class Escape:
    """The driver's Escape: when it was pressed, when the composer was back in the pane."""

    pressed: float
    back: float | None


@dataclass
class Driver:
    client: Client
    api: AnthropicServer
    env: dict[str, str]
    sid: str
    tmux_session: str
    rng: random.Random
    kinds: dict[int, str] = field(default_factory=dict)  # id(Turn) → kind
    escapes: list[Escape] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    n: int = 0

    # -- plumbing ---------------------------------------------------------------------------

    def tag(self) -> str:
        self.n += 1
        return f"q{self.n:03d}"  # "q" is no hex digit: never inside sm's message ids

    def script(self, kind: str, tag: str, reply: list[Item]) -> None:
        turn = Turn(tag, reply)
        self.kinds[id(turn)] = kind
        self.api.add(turn)

    def send(self, tag: str, text: str, mode: str = "sequential") -> None:
        msg = self.client.post("/messages", {"targets": [self.sid], "body": f"{tag} {text}",
                                             "mode": mode})["items"][0]
        self.messages.append(str(msg["id"]))

    def request(self, tag: str, timeout: float = 30.0) -> RecordedRequest | None:
        try:
            return self.api.wait_for(lambda r: r.kind in ("turn", "default") and tag in r.prompt,
                                     timeout=timeout)
        except TimeoutError:
            self.problems.append(f"{tag}: its model request never came")
            return None

    def after(self, req: RecordedRequest | None, seconds: float) -> None:
        if req is not None:
            time.sleep(max(0.0, req.t + seconds - time.monotonic()))

    def screen(self) -> str:
        socket = tmux_socket_for(Path(self.env["SM_HOME"]))
        return subprocess.run(["tmux", "-L", socket, "capture-pane", "-p", "-t",
                               f"={self.tmux_session}:"], capture_output=True, text=True).stdout

    def escape(self) -> None:
        socket = tmux_socket_for(Path(self.env["SM_HOME"]))
        pressed = time.monotonic()
        subprocess.run(["tmux", "-L", socket, "send-keys", "-t", f"={self.tmux_session}:",
                        "Escape"], check=True)
        back: float | None = None
        deadline = pressed + 5
        while time.monotonic() < deadline:
            if not agents.claude_busy(self.screen()):
                back = time.monotonic()
                break
            time.sleep(0.02)
        if back is None:
            self.problems.append("an Escape left the pane busy for 5 s")
        self.escapes.append(Escape(pressed, back))

    def quiet(self) -> bool:
        """No model response in flight or owed, every message ended, sm shows idle."""
        reqs = self.api.conversation_requests()
        if reqs:
            last = reqs[-1]
            if last.finished is None:
                return False
            if last.stop == "tool_use" and not any(e.pressed > last.finished for e in self.escapes):
                return False
        for mid in self.messages:
            if self.client.get(f"/messages/{mid}")["state"] in ("queued", "delivering"):
                return False
        return self.client.get(f"/sessions/{self.sid}")["state"] == IDLE

    def settle(self) -> None:
        """Wait for quiet, then stay idle a while (the idle samples)."""
        if not wait_until(self.quiet, timeout=60, interval=0.1):
            self.problems.append(f"not quiet after 60 s (sm: "
                                 f"{self.client.get(f'/sessions/{self.sid}')['state']})")
        time.sleep(self.rng.uniform(0.8, 1.6))

    # -- scenarios ----------------------------------------------------------------------------

    def text(self) -> None:
        tag = self.tag()
        self.script("text", tag, [Text(f"hello from {tag}")])
        self.send(tag, "say hello")

    def tool(self) -> None:
        tag = self.tag()
        pause = self.rng.uniform(0.3, 1.5)
        self.script("tool", tag, [Text("checking"), Bash(f"sleep {pause:.2f}; echo ok"),
                                  Text("checked")])
        self.send(tag, "run the check")

    def stall(self) -> None:
        tag = self.tag()
        pause = self.rng.uniform(1.0, 4.0)
        if self.rng.random() < 0.5:
            reply: list[Item] = [Text("thinking"), Sleep(pause), Text("thought")]
        else:
            reply = [Sleep(pause), Text("thought late")]
        self.script("stall", tag, reply)
        self.send(tag, "think it over")

    def queued(self) -> None:
        first, second = self.tag(), self.tag()
        self.script("stall", first, [Text("on it"), Sleep(self.rng.uniform(2.0, 3.5)),
                                     Text("done first")])
        self.script("queued", second, [Text("done second")])
        self.send(first, "the first task")
        self.after(self.request(first), 0.5)
        self.send(second, "the second task")  # sequential: waits for the turn's end

    def owed(self) -> None:
        first, second = self.tag(), self.tag()
        self.script("stall", first, [Text("one started"), Sleep(3.0), Text("one done")])
        self.script("owed", second, [Text("mid started"), Sleep(self.rng.uniform(1.0, 2.0)),
                                     Text("mid done")])
        self.send(first, "task one")
        self.after(self.request(first), 0.8)
        self.send(second, "a thought mid-stream", "important")

    def escape_stream(self) -> None:
        tag = self.tag()
        self.script("escaped", tag, [Text("streaming"), Sleep(30), Text("never")])
        self.send(tag, "the long one")
        req = self.request(tag)
        if self.rng.random() < 0.5:
            nxt = self.tag()
            self.script("queued", nxt, [Text("after the escape")])
            self.after(req, 0.5)
            self.send(nxt, "then this")
        self.after(req, self.rng.uniform(1.0, 1.5))
        self.escape()

    def escape_tool(self) -> None:
        tag = self.tag()
        # not a bare `sleep 30`: Claude Code blocks standalone sleeps as a tool error
        self.script("escaped", tag, [Text("running it"), Bash("timeout 30 tail -f /dev/null"),
                                     Text("never")])
        self.send(tag, "the long command")
        req = self.request(tag)
        if req is None or not wait_until(lambda: req.finished is not None, timeout=10):
            return
        time.sleep(self.rng.uniform(0.8, 1.5))
        self.escape()

    def urgent_after_output(self) -> None:
        cut, urgent = self.tag(), self.tag()
        self.script("urgent-cut", cut, [Text("some output"), Sleep(8), Text("never")])
        self.script("urgent", urgent, [Text("urgent handled")])
        self.send(cut, "a slow one")
        self.after(self.request(cut), self.rng.uniform(0.8, 1.5))
        self.send(urgent, "right now", "urgent")

    def urgent_before_output(self) -> None:
        cut, urgent = self.tag(), self.tag()
        self.script("urgent-cut-early", cut, [Sleep(8), Text("too late")])
        self.script("urgent", urgent, [Text("urgent handled")])
        self.script("put-back", cut, [Text("handled after all")])
        self.send(cut, "a slow start")
        self.after(self.request(cut), self.rng.uniform(0.4, 1.0))
        self.send(urgent, "right now", "urgent")

    def one_round(self) -> None:
        steps: list[Callable[[], None]] = [
            self.text, self.tool, self.stall, self.queued, self.owed, self.escape_stream,
            self.escape_tool, self.urgent_after_output, self.urgent_before_output]
        self.rng.shuffle(steps)
        for step in steps:
            step()
            self.settle()


# --------------------------------------------------------------------------------------------
# Ground truth and the comparison
# --------------------------------------------------------------------------------------------


@dataclass
class Span:
    start: float
    end: float
    start_cause: str
    end_cause: str


@dataclass
class Edge:
    t: float
    to: str  # the state it enters
    cause: str


def truth(requests: list[RecordedRequest], kinds: dict[int, str], escapes: list[Escape],
          t_end: float) -> tuple[list[Span], list[tuple[float, float]]]:
    """The running spans (merged) and the spans of unknown truth."""
    reqs = sorted((r for r in requests if r.kind in CONVERSATION), key=lambda r: r.t)
    spans: list[Span] = []
    unknown: list[tuple[float, float]] = []
    for i, r in enumerate(reqs):
        nxt = reqs[i + 1] if i + 1 < len(reqs) else None
        start_cause = "continue" if r.kind == "continue" else kinds.get(id(r.turn), "unscripted")
        end = r.finished if r.finished is not None else t_end
        if r.stop == "end_turn":
            end_cause = "turn end"
        elif r.stop == "aborted":
            # the server notices a hang-up within ~0.1 s of the Escape that caused it
            by_driver = any(e.pressed <= end <= e.pressed + 1.0 for e in escapes)
            end_cause = "escape (stream)" if by_driver else "urgent (sm's Escape)"
        elif r.stop == "tool_use":
            bound = nxt.t if nxt is not None else t_end
            esc = next((e for e in escapes if end <= e.pressed <= bound), None)
            if nxt is not None and nxt.kind == "continue" and esc is None:
                end, end_cause = nxt.t, "tool"
            elif esc is not None and esc.back is not None:
                end, end_cause = esc.back, "escape (tool)"
            else:
                unknown.append((end, bound))
                end_cause = "unknown"
        else:
            end_cause = "unfinished"
        spans.append(Span(r.t, end, start_cause, end_cause))
    merged: list[Span] = []
    for s in sorted(spans, key=lambda s: s.start):
        if merged and s.start <= merged[-1].end + 1e-3:
            last = merged[-1]
            if s.end >= last.end:
                last.end, last.end_cause = s.end, s.end_cause
        else:
            merged.append(Span(s.start, s.end, s.start_cause, s.end_cause))
    return merged, unknown


def edges_of(spans: list[Span]) -> list[Edge]:
    out: list[Edge] = []
    for s in spans:
        out.append(Edge(s.start, RUNNING, s.start_cause))
        out.append(Edge(s.end, IDLE, s.end_cause))
    return out


def state_at(spans: list[Span], t: float) -> str:
    starts = [s.start for s in spans]
    i = bisect.bisect_right(starts, t) - 1
    return RUNNING if i >= 0 and spans[i].start <= t < spans[i].end else IDLE


@dataclass
class SmTimeline:
    """sm's state over time, from its state events (monotonic times)."""

    times: list[float]
    states: list[str]
    signals: list[str]

    def at(self, t: float) -> str:
        i = bisect.bisect_right(self.times, t) - 1
        return self.states[i] if i >= 0 else "starting"

    def entries(self, state: str) -> list[float]:
        return [t for i, (t, s) in enumerate(zip(self.times, self.states, strict=True))
                if s == state and (i == 0 or self.states[i - 1] != state)]


def lag(edge: Edge, prev: float, nxt: float, sm: SmTimeline) -> float | None:
    """sm's entry into the edge's state minus the edge; ``None`` if sm never showed it
    between the neighbouring true transitions."""
    entries = sm.entries(edge.to)
    if sm.at(edge.t) == edge.to:
        before = [e for e in entries if e <= edge.t]
        return before[-1] - edge.t if before and before[-1] > prev else None
    after = [e for e in entries if e > edge.t]
    return after[0] - edge.t if after and after[0] < nxt else None


def accepted_leads(spans: list[Span], accepted: list[float]) -> list[float]:
    """For each true start: the agent's UserPromptSubmit (its hook, as sm logged it) → the
    first model request, when that hook came after the previous true transition."""
    out: list[float] = []
    prev = float("-inf")
    for s in spans:
        hooks = [a for a in accepted if prev < a <= s.start]
        if hooks:
            out.append(s.start - hooks[-1])
        prev = s.end
    return out


def pct(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def lag_line(label: str, values: list[float], missed: int) -> str:
    if not values:
        return f"  {label:<30} n=0{f', not shown {missed}' if missed else ''}"
    ordered = sorted(v * 1000 for v in values)
    return (f"  {label:<30} p50 {statistics.median(ordered):7.0f} ms   p95 "
            f"{pct(ordered, 0.95):7.0f} ms   max {ordered[-1]:7.0f} ms   (n={len(ordered)}"
            f"{f', not shown {missed}' if missed else ''})")


Compared = list[tuple[float, str, str, str]]  # t, sm's state, the true one, nearest edge


def compare(samples: list[tuple[float, str]], spans: list[Span],
            unknown: list[tuple[float, float]], window: float, t_begin: float,
            t_end: float) -> tuple[Compared, int, int]:
    """The samples more than ``window`` from every true transition (and of known truth),
    each with the truth and its nearest transition; how many were near, how many unknown."""
    edges = edges_of(spans)
    kept: Compared = []
    near = unknown_n = 0
    for t, state in samples:
        if not t_begin <= t <= t_end:
            continue
        if any(a <= t <= b for a, b in unknown):
            unknown_n += 1
            continue
        edge = min(edges, key=lambda e: abs(e.t - t), default=None)
        if edge is not None and abs(edge.t - t) <= window:
            near += 1
            continue
        cause = "no turn"
        if edge is not None:
            side = "start" if edge.to == RUNNING else "end"
            cause = f"{'after' if t >= edge.t else 'before'} {side}: {edge.cause}"
        kept.append((t, state, state_at(spans, t), cause))
    return kept, near, unknown_n


def precision_recall(kept: Compared) -> None:
    for state in (RUNNING, IDLE):
        shown = [k for k in kept if k[1] == state]
        true = [k for k in kept if k[2] == state]
        hit = sum(1 for k in shown if k[2] == state)
        precision = 100 * hit / len(shown) if shown else float("nan")
        recall = 100 * hit / len(true) if true else float("nan")
        print(f"  {state:<8} precision {precision:6.2f} % ({hit}/{len(shown)})   "
              f"recall {recall:6.2f} % ({hit}/{len(true)})")


def from_acceptance(spans: list[Span], accepted: list[float]) -> list[Span]:
    """The same spans, each started at the agent's own UserPromptSubmit when that came
    after the previous span's end (the other reading of when a turn starts)."""
    out: list[Span] = []
    prev = float("-inf")
    for s in spans:
        hooks = [a for a in accepted if prev < a <= s.start]
        out.append(Span(hooks[-1] if hooks else s.start, s.end, s.start_cause, s.end_cause))
        prev = s.end
    return out


def report(samples: list[tuple[float, str]], spans: list[Span],
           unknown: list[tuple[float, float]], sm: SmTimeline, window: float,
           t_begin: float, t_end: float, accepted: list[float]) -> None:
    edges = edges_of(spans)
    kept, near, unknown_n = compare(samples, spans, unknown, window, t_begin, t_end)
    inside = sum(1 for t, _ in samples if t_begin <= t <= t_end)
    print(f"samples: {inside} in the measured span; {near} within ±{window * 1000:.0f} ms of a "
          f"true transition, {unknown_n} of unknown truth; {len(kept)} compared "
          f"(truly running {sum(1 for k in kept if k[2] == RUNNING)}, "
          f"truly idle {sum(1 for k in kept if k[2] == IDLE)})")
    precision_recall(kept)
    wrong = Counter((k[2], k[1], k[3]) for k in kept if k[1] != k[2])
    if wrong:
        print("misses, by the nearest true transition:")
        for (true_state, shown_state, cause), n in wrong.most_common():
            print(f"  {n:4d}  truly {true_state}, sm {shown_state}  ({cause})")
    print(f"edge lag (sm's state event − the true transition); {len(edges)} true transitions:")
    by_kind: dict[str, list[float]] = defaultdict(list)
    missed: Counter[str] = Counter()
    gaps: dict[str, list[float]] = defaultdict(list)
    times = [e.t for e in edges]
    for i, edge in enumerate(edges):
        prev = times[i - 1] if i > 0 else t_begin
        nxt = times[i + 1] if i + 1 < len(times) else float("inf")
        value = lag(edge, prev, nxt, sm)
        side = "start" if edge.to == RUNNING else "end"
        if value is None:
            missed[side] += 1
            missed[f"{side}: {edge.cause}"] += 1
            gap = (nxt - edge.t) if edge.to == IDLE else (edge.t - prev)
            gaps[f"{side}: {edge.cause}"].append(gap)
        else:
            by_kind[side].append(value)
            by_kind[f"{side}: {edge.cause}"].append(value)
    for side in ("start", "end"):
        print(lag_line(f"{side} edges (→ {RUNNING if side == 'start' else IDLE})",
                       by_kind[side], missed[side]))
    print("  by cause:")
    for key in sorted(k for k in set(by_kind) | set(gaps) if ":" in k):
        print("  " + lag_line(key, by_kind[key], missed[key]))
    for key, values in sorted(gaps.items()):
        print(f"    not shown, {key}: true gaps of "
              + ", ".join(f"{v * 1000:.0f}" for v in sorted(values)) + " ms")
    leads = accepted_leads(spans, accepted)
    if leads:
        print("context: the agent's UserPromptSubmit hook → its first model request:")
        print(lag_line("prompt accepted → request", leads, 0))
        alt, _near, _unknown = compare(samples, from_acceptance(spans, accepted), unknown,
                                       window, t_begin, t_end)
        print("the same samples with each turn started at the agent's UserPromptSubmit "
              f"({len(alt)} compared):")
        precision_recall(alt)


# --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=40, help="at least this many model turns")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--interval", type=float, default=0.1, help="sampling period, s")
    parser.add_argument("--window", type=float, default=0.25,
                        help="samples this close to a true transition are not compared, s")
    parser.add_argument("--timeline", action="store_true",
                        help="also print the true spans and sm's state events")
    args = parser.parse_args()
    if agents.claude_bin() is None:
        raise SystemExit("claude: not installed (scripts/install-agent-clis.sh)")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="smb-home-") as home, \
            AnthropicServer(default_reply="pong") as api, \
            daemon(**_env(home, api.url)) as env:
        client = Client(home=env["SM_HOME"], token="", session_id="", autostart=False)
        work = Path(home) / "work"
        work.mkdir()
        rec = json.loads(subprocess.run(
            [SM, "spawn", "claude", "--name", "truth", "--cwd", str(work), "--json"],
            env=env, check=True, capture_output=True, text=True).stdout)
        sid = str(rec["id"])
        if not wait_until(lambda: client.get(f"/sessions/{sid}")["state"] == IDLE, timeout=60):
            raise SystemExit("the Claude session never became idle")
        offsets = sorted(time.time() - time.monotonic() for _ in range(5))
        sampler = Sampler(client, sid, args.interval)
        driver = Driver(client, api, env, sid, str(rec["tmux_session"]), random.Random(args.seed))
        time.sleep(1.0)
        sampler.start()
        time.sleep(0.5)
        t_begin = time.monotonic()
        try:
            while sum(1 for r in api.requests if r.kind in ("turn", "default")) < args.turns:
                driver.one_round()
        finally:
            t_end = time.monotonic()
            time.sleep(0.3)
            sampler.halt.set()
            sampler.join()
        events = _events(client, sid, "state")
        hooks = _events(client, sid, "hook")
        requests = list(api.requests)
    load_after = os.getloadavg()

    offset = offsets[len(offsets) // 2]
    sm = SmTimeline([e["ts"] - offset for e in events], [e["payload"]["to"] for e in events],
                    [e["payload"].get("signal", "") for e in events])
    spans, unknown = truth(requests, driver.kinds, driver.escapes, t_end)
    turns = [r for r in requests if r.kind in ("turn", "default")]
    counts = Counter(driver.kinds.get(id(r.turn), "unscripted") for r in turns)
    print(f"state truth: Claude Code {agents.CLAUDE_VERSION} through sm, {len(turns)} turns in "
          f"{t_end - t_begin:.0f} s, a sample every {args.interval * 1000:.0f} ms "
          f"({sampler.errors} failed reads)")
    print("load average before: " + " ".join(f"{x:.2f}" for x in load_before)
          + "   after: " + " ".join(f"{x:.2f}" for x in load_after))
    print("turns: " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())))
    print(f"driver: {len(driver.escapes)} Escapes; "
          f"{sum(1 for r in requests if r.stop == 'aborted')} responses cut short")
    for problem in driver.problems:
        print(f"  problem: {problem}")
    accepted = [e["ts"] - offset for e in hooks if e["payload"].get("event") == "UserPromptSubmit"]
    report(sampler.samples, spans, unknown, sm, args.window, t_begin, t_end, accepted)
    if args.timeline:
        print("timeline (s from the start; true spans, then sm's state events):")
        for span in spans:
            print(f"  running {span.start - t_begin:8.3f} – {span.end - t_begin:8.3f}  "
                  f"{span.start_cause} … {span.end_cause}")
        for t, state, signal in zip(sm.times, sm.states, sm.signals, strict=True):
            print(f"  sm {state:<8} {t - t_begin:8.3f}  {signal}")
        for r in requests:
            if r.kind in CONVERSATION:
                print(f"  request {r.kind:<8} {r.t - t_begin:8.3f} – "
                      f"{(r.finished or t_end) - t_begin:8.3f} {r.stop:<8} {r.prompt[-160:]!r}")


if __name__ == "__main__":
    main()
