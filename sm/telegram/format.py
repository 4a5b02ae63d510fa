"""What the bridge says in Telegram: pure functions from sm's facts to message texts.

Every text comes twice: plain (the fallback when Telegram refuses markup) and HTML
(agent text escaped, so ``Vec<String>`` or ``<br>`` cannot break it). Long texts are
split under Telegram's 4096-character limit, on line boundaries where possible.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable
from typing import Any

from sm.core.budgets import EXCEEDED, describe, dollars
from sm.core.usage import Line
from sm.ops.usage import SpendSummary

LIMIT = 4096
_ROOM = 3800  # a part's body; the rest is for the header and the part number

Text = tuple[str, str]  # (plain, html)


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def split(text: str, size: int = _ROOM) -> list[str]:
    """``text`` in pieces of at most ``size`` characters, cut at a newline (or a space)
    in the last quarter of a piece when there is one."""
    parts: list[str] = []
    while len(text) > size:
        cut = text.rfind("\n", size * 3 // 4, size)
        if cut < 0:
            cut = text.rfind(" ", size * 3 // 4, size)
        if cut < 0:
            cut = size
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n") if text[cut:cut + 1] == "\n" else text[cut:]
    parts.append(text)
    return parts


def titled(title_plain: str, title_html: str, body: str, pre: bool = False) -> list[Text]:
    """A header line and a body that may need several messages (numbered)."""
    pieces = split(body, _ROOM - len(title_plain)) if body else [""]
    out: list[Text] = []
    for i, piece in enumerate(pieces, 1):
        mark = f" ({i}/{len(pieces)})" if len(pieces) > 1 else ""
        shown = f"<pre>{esc(piece)}</pre>" if pre and piece else esc(piece)
        plain = f"{title_plain}{mark}\n{piece}" if piece else f"{title_plain}{mark}"
        rich = f"{title_html}{mark}\n{shown}" if piece else f"{title_html}{mark}"
        out.append((plain, rich))
    return out


def message(sender: str, mode: str, body: str, message_id: str) -> list[Text]:
    """A message sent to the session whose thread this goes to."""
    flag = "" if mode == "sequential" else f" [{mode}]"
    return titled(f"✉️ {sender}{flag} · {message_id}",
                  f"✉️ <b>{esc(sender)}</b>{esc(flag)} · <code>{message_id}</code>", body)


def turn(label: str, text: str) -> list[Text]:
    """The agent's final text of a turn."""
    return titled(f"🤖 {label}", f"🤖 <b>{esc(label)}</b>", text or "(no text)")


def lifecycle(label: str, what: str, detail: str = "") -> Text:
    icons = {"spawned": "🟢", "stopped": "⏹", "crashed": "💥", "exited": "🏁",
             "restored": "↩️", "cleared": "🧹", "renamed": "✏️", "stalled": "⏳",
             "turn failed": "⚠️", "context filling": "🧠"}
    icon = icons.get(what, "•")
    tail = f" — {detail}" if detail else ""
    return (f"{icon} {label} {what}{tail}",
            f"{icon} <b>{esc(label)}</b> {what}{esc(tail)}")


def note(sender: str, body: str, note_id: str) -> list[Text]:
    """A note a session wrote to the operator's inbox."""
    return titled(f"📥 {sender} → you · {note_id}",
                  f"📥 <b>{esc(sender)}</b> → you · <code>{note_id}</code>", body)


def alert(text: str) -> Text:
    return (f"⚠️ {text}", f"⚠️ {esc(text)}")


def root(label: str, session_id: str, provider: str) -> Text:
    """The first message of a session's reply thread in a chat without topics."""
    return (f"🧵 {label} ({session_id}, {provider}) — reply to its messages to talk to it",
            f"🧵 <b>{esc(label)}</b> (<code>{session_id}</code>, {esc(provider)}) — reply to "
            f"its messages to talk to it")


def approval(label: str, tool: str, timeout: float) -> Text:
    what = f" to use {tool}" if tool else ""
    return (f"🔐 {label} asks for permission{what}. Unanswered in {timeout:g}s: denied.",
            f"🔐 <b>{esc(label)}</b> asks for permission{esc(what)}. "
            f"Unanswered in {timeout:g}s: denied.")


APPROVAL_BUTTONS = (("Allow once", "1"), ("Always", "2"), ("Deny", "3"))
APPROVAL_WORDS = {"1": "allowed once", "2": "allowed always", "3": "denied"}


def approval_settled(label: str, tool: str, outcome: str) -> Text:
    what = f" to use {tool}" if tool else ""
    return (f"🔐 {label}: permission{what} — {outcome}",
            f"🔐 <b>{esc(label)}</b>: permission{esc(what)} — {esc(outcome)}")


def question(label: str, text: str, choices: list[str]) -> Text:
    hint = "" if choices else "\n(reply in this thread to answer)"
    return (f"❓ {label} asks: {text}{hint}", f"❓ <b>{esc(label)}</b> asks: {esc(text)}{hint}")


def question_settled(label: str, text: str, outcome: str) -> Text:
    return (f"❓ {label} asked: {text}\n→ {outcome}",
            f"❓ <b>{esc(label)}</b> asked: {esc(text)}\n→ <b>{esc(outcome)}</b>")


def receipt(target: str, message_id: str, state: str, reason: str | None) -> Text:
    if state == "delivered":
        return (f"✓ delivered to {target} ({message_id})",
                f"✓ delivered to <b>{esc(target)}</b> (<code>{message_id}</code>)")
    why = f": {reason}" if reason else ""
    return (f"✗ not delivered to {target} ({message_id}) — {state}{why}",
            f"✗ not delivered to <b>{esc(target)}</b> (<code>{message_id}</code>) — "
            f"{esc(state + why)}")


def sessions_table(items: Iterable[Any], now: float | None = None) -> Text:
    """/list: one line per session."""
    now = now or time.time()
    lines = [f"{s.label:<16} {s.id}  {s.provider:<8} {s.state:<18} {_ago(s.created_at, now)}"
             for s in items]
    body = "\n".join(lines) or "no sessions"
    return body, f"<pre>{esc(body)}</pre>"


def status(s: Any) -> Text:
    rows = [f"{s.label} ({s.id}) {s.provider} {s.state}", f"cwd: {s.cwd}"]
    if s.status_text:
        rows.append(f"status: {s.status_text}")
    if s.last_message:
        rows.append(f"last message: {s.last_message[:500]}")
    body = "\n".join(rows)
    return body, esc(body)


def actions(label: str, items: list[dict[str, Any]]) -> Text:
    lines = []
    for a in items:
        when = time.strftime("%H:%M:%S", time.localtime(a["ts"]))
        data = a.get("input") or {}
        summary = str(data.get("command") or data.get("file_path") or data)[:120]
        lines.append(f"{when} {a.get('tool') or '?':<8} {summary}")
    body = "\n".join(lines) or "no tool actions yet"
    return f"{label}\n{body}", f"<b>{esc(label)}</b>\n<pre>{esc(body)}</pre>"


def output(label: str, screen: str) -> Text:
    body = screen[-_ROOM:] if screen.strip() else "(empty screen)"
    return f"{label}\n{body}", f"<b>{esc(label)}</b>\n<pre>{esc(body)}</pre>"


def spend_summary(s: SpendSummary) -> list[Text]:
    """The daily summary: the total, the sessions and projects that spent most, the
    budgets near or over their limit, the models without a price."""
    title = f"📊 Spend since {time.strftime('%a %d %b %H:%M', time.localtime(s.since))}"
    t = s.total
    rows = [f"Total: {_spend(t)} · {t.responses} responses" if t.responses
            else "Nothing was spent."]
    if t.responses:
        k = t.tokens
        rows.append(f"  input {_count(k.input)} · cache write {_count(k.cache_write)} · "
                    f"cache read {_count(k.cache_read)} · output {_count(k.output)}")
    for what, count, named in (
            ("Sessions", s.session_count, s.sessions),
            ("Projects", s.project_count, [(line.key, line) for line in s.projects])):
        if named:
            more = f" (top {len(named)} of {count})" if count > len(named) else ""
            rows.append(f"{what}{more}:")
            rows += [f"• {label} — {_spend(line)}" for label, line in named]
    if s.budgets:
        rows.append("Budgets:")
        for b in s.budgets:
            level = "reached" if b.level == EXCEEDED else f"at {round(b.percent)}%"
            rows.append(f"• {describe(b.budget, b.label)} {level} "
                        f"({dollars(b.spent_micros)} of {dollars(b.budget.limit_micros)})")
    if t.unpriced:
        rows.append(f"No price for {', '.join(t.unpriced)}: its tokens are counted, its "
                    "cost is not (usage.prices in config.yaml).")
    return titled(title, f"<b>{esc(title)}</b>", "\n".join(rows))


def _spend(line: Line) -> str:
    """``$1.23 · 45.6k tokens``; ``+?`` when some of it has no price."""
    k = line.tokens
    unpriced = "+?" if line.unpriced else ""
    return f"{dollars(line.cost_micros)}{unpriced} · {_count(k.prompt + k.output)} tokens"


def _count(n: int) -> str:
    """12, 3.4k, 1.2M."""
    for unit, size in (("M", 1_000_000), ("k", 1000)):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + unit
    return str(n)


HELP = """sm bot — your swarm in your pocket.
In a session's topic (or replying to one of its messages), write to talk to that agent.
/urgent TEXT — interrupt the agent's turn and deliver TEXT
/list — every session
/status [S] — a session (default: this topic's)
/tail [S] — its recent tool actions
/output [S] — its screen
/spawn PROVIDER [-n NAME] PROMPT — start an agent
/kill S — stop a session
/clear S — reset a session's conversation
/send S TEXT — send TEXT to a session
/help — this text
Other /commands in a topic go to the agent as typed."""


def _ago(ts: float, now: float) -> str:
    secs = max(0, int(now - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"
