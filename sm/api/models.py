"""The wire: the JSON shapes sm's adapters speak (HTTP routes, MCP tools, the web).

Records from the store never know how they are shown; each shape here is built from
one with ``of``. The OpenAPI document (``/openapi.json``) is generated from these.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sm.core.budgets import Standing as StandingRecord
from sm.core.usage import ContextUse, Line
from sm.ops.coordination import Waited
from sm.ops.git import SessionWorktree
from sm.ops.locks import Held
from sm.ops.usage import SessionUsage as SessionUsageRecord
from sm.ops.usage import UsageReport as UsageReportRecord
from sm.store.asks import AskRecord
from sm.store.events import EventRecord
from sm.store.git import PrRecord, RepoRecord
from sm.store.inbox import NoteRecord
from sm.store.messages import MessageRecord
from sm.store.reminders import ReminderRecord
from sm.store.sessions import SessionRecord
from sm.store.watchers import WatcherRecord

BRIEF = 200  # characters of a body shown in lists


class Session(BaseModel):
    id: str
    name: str | None
    provider: str
    state: str
    cwd: str
    tmux_session: str
    parent_id: str | None
    options: dict[str, Any]
    conversation_id: str | None
    transcript_path: str | None
    last_message: str | None
    exit_status: int | None
    status_text: str | None
    role: str | None
    created_at: float
    updated_at: float

    @classmethod
    def of(cls, rec: SessionRecord) -> Session:
        return cls(
            id=rec.id, name=rec.name, provider=rec.provider, state=rec.state, cwd=rec.cwd,
            tmux_session=rec.tmux_session, parent_id=rec.parent_id, options=rec.options,
            conversation_id=rec.conversation_id, transcript_path=rec.transcript_path,
            last_message=rec.last_message, exit_status=rec.exit_status,
            status_text=rec.status_text, role=rec.role, created_at=rec.created_at,
            updated_at=rec.updated_at,
        )


class SessionPage(BaseModel):
    items: list[Session]
    next: str | None = None


class Operator(BaseModel):
    operator: Literal[True] = True


class Message(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    sender: str = Field(alias="from")
    sender_id: str | None
    to: str
    mode: str
    state: str
    reason: str | None
    attempts: int
    notify_on_stop: bool
    created_at: float
    delivered_at: float | None
    expires_at: float | None
    kind: str
    body: str

    @classmethod
    def of(cls, m: MessageRecord, full: bool = True) -> Message:
        return cls.model_validate({
            "id": m.id, "from": m.sender_label, "sender_id": m.sender_id, "to": m.target_id,
            "mode": m.mode, "state": m.state, "reason": m.reason, "attempts": m.attempts,
            "notify_on_stop": m.notify_on_stop, "created_at": m.created_at,
            "delivered_at": m.delivered_at, "expires_at": m.expires_at, "kind": m.kind,
            "body": m.body if full else m.body[:BRIEF],
        })


class MessageList(BaseModel):
    items: list[Message]


class Event(BaseModel):
    v: int = 1
    seq: int
    ts: float
    session_id: str | None
    kind: str
    payload: dict[str, Any]

    @classmethod
    def of(cls, ev: EventRecord) -> Event:
        return cls(seq=ev.seq, ts=ev.ts, session_id=ev.session_id, kind=ev.kind,
                   payload=ev.payload)


def event_json(ev: EventRecord) -> dict[str, Any]:
    """An event as a plain dict (the stream's envelope), without a model round trip."""
    return {"v": 1, "seq": ev.seq, "ts": ev.ts, "session_id": ev.session_id, "kind": ev.kind,
            "payload": ev.payload}


class EventPage(BaseModel):
    items: list[Event]
    next: int | None = None


class Lease(BaseModel):
    id: str
    path: str
    session_id: str
    holder: str
    kind: str
    reason: str
    auto: bool
    acquired_at: float
    ttl: float | None
    expires_at: float | None
    repo: str | None

    @classmethod
    def of(cls, held: Held) -> Lease:
        lease = held.lease
        return cls(id=lease.id, path=lease.path, session_id=lease.session_id,
                   holder=held.holder, kind=lease.kind, reason=lease.reason, auto=lease.auto,
                   acquired_at=lease.acquired_at, ttl=lease.ttl, expires_at=lease.expires_at,
                   repo=lease.repo)


class LeaseList(BaseModel):
    items: list[Lease]


class Waiting(BaseModel):
    session_id: str
    paths: list[str]
    holder: str


class LockTable(BaseModel):
    items: list[Lease]
    waiting: list[Waiting]


class Blocked(BaseModel):
    blocked: list[Lease]


class SessionLeases(BaseModel):
    session: str
    items: list[Lease]


class Reminder(BaseModel):
    id: str
    session_id: str
    kind: str
    body: str
    mode: str
    due_at: float
    every: float | None
    state: str
    fired: int
    created_by: str | None
    created_at: float

    @classmethod
    def of(cls, r: ReminderRecord) -> Reminder:
        return cls(id=r.id, session_id=r.session_id, kind=r.kind, body=r.body, mode=r.mode,
                   due_at=r.due_at, every=r.every, state=r.state, fired=r.fired,
                   created_by=r.created_by, created_at=r.created_at)


class ReminderList(BaseModel):
    items: list[Reminder]


class Watcher(BaseModel):
    id: str
    watcher_id: str
    target_id: str
    deadline: float
    state: str
    created_at: float

    @classmethod
    def of(cls, w: WatcherRecord) -> Watcher:
        return cls(id=w.id, watcher_id=w.watcher_id, target_id=w.target_id,
                   deadline=w.deadline, state=w.state, created_at=w.created_at)


class WaitResult(BaseModel):
    """A blocking wait's outcome, or (``notify``) the watcher armed instead."""

    outcome: str | None = None
    session: Session | None = None
    undelivered: int | None = None
    watcher: Watcher | None = None

    @classmethod
    def of(cls, waited: Waited) -> WaitResult:
        return cls(outcome=waited.outcome, session=Session.of(waited.session),
                   undelivered=waited.undelivered)


class Repo(BaseModel):
    name: str
    url: str | None
    path: str
    kind: str
    added_at: float
    fetched_at: float | None

    @classmethod
    def of(cls, r: RepoRecord) -> Repo:
        return cls(name=r.name, url=r.url, path=r.path, kind=r.kind, added_at=r.added_at,
                   fetched_at=r.fetched_at)


class RepoList(BaseModel):
    items: list[Repo]


class Pr(BaseModel):
    session_id: str
    url: str | None
    branch: str
    base: str
    pushed_at: float

    @classmethod
    def of(cls, p: PrRecord) -> Pr:
        return cls(session_id=p.session_id, url=p.url, branch=p.branch, base=p.base,
                   pushed_at=p.pushed_at)


class SessionWorktreeOut(BaseModel):
    worktree: dict[str, Any] | None
    pr: Pr | None

    @classmethod
    def of(cls, s: SessionWorktree) -> SessionWorktreeOut:
        return cls(worktree=s.worktree, pr=Pr.of(s.pr) if s.pr else None)


class Ask(BaseModel):
    id: str
    session_id: str | None
    question: str
    choices: list[str]
    state: str
    answer: str | None
    answered_by: str | None
    deadline: float
    created_at: float

    @classmethod
    def of(cls, a: AskRecord) -> Ask:
        return cls(id=a.id, session_id=a.session_id, question=a.question, choices=a.choices,
                   state=a.state, answer=a.answer, answered_by=a.answered_by,
                   deadline=a.deadline, created_at=a.created_at)


class AskList(BaseModel):
    items: list[Ask]


class Note(BaseModel):
    """A note in the operator's inbox."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    sender: str = Field(alias="from")
    sender_id: str | None
    body: str
    created_at: float
    read: bool
    read_at: float | None
    read_by: str | None

    @classmethod
    def of(cls, n: NoteRecord) -> Note:
        return cls.model_validate({
            "id": n.id, "from": n.sender_label, "sender_id": n.sender_id, "body": n.body,
            "created_at": n.created_at, "read": n.is_read, "read_at": n.read_at,
            "read_by": n.read_by,
        })


class NoteList(BaseModel):
    items: list[Note]


class Ok(BaseModel):
    ok: bool = True


class UsageLine(BaseModel):
    """Tokens and cost of one group (a model, a session, a UTC day; "" for a total).
    ``unpriced_models`` are counted in the tokens but have no price: not in the cost."""

    key: str
    responses: int
    input_tokens: int
    output_tokens: int
    reasoning_output_tokens: int
    cache_creation_input_tokens: int
    cache_creation_5m_input_tokens: int
    cache_creation_1h_input_tokens: int
    cache_read_input_tokens: int
    cost_micros: int
    unpriced_models: list[str]

    @classmethod
    def of(cls, line: Line) -> UsageLine:
        t = line.tokens
        return cls(key=line.key, responses=line.responses, input_tokens=t.input,
                   output_tokens=t.output, reasoning_output_tokens=t.reasoning,
                   cache_creation_input_tokens=t.cache_write,
                   cache_creation_5m_input_tokens=t.cache_write_5m,
                   cache_creation_1h_input_tokens=t.cache_write_1h,
                   cache_read_input_tokens=t.cache_read, cost_micros=line.cost_micros,
                   unpriced_models=list(line.unpriced))


class ContextWindow(BaseModel):
    """The last request's prompt (input + cache tokens) against the model's window."""

    tokens: int
    window: int | None
    model: str
    percent: float | None
    ts: float

    @classmethod
    def of(cls, ctx: ContextUse) -> ContextWindow:
        share = ctx.share
        return cls(tokens=ctx.tokens, window=ctx.window, model=ctx.model,
                   percent=None if share is None else round(share * 100, 1), ts=ctx.ts)


class UsageSessionRef(BaseModel):
    id: str
    name: str | None


class UsageSide(BaseModel):
    total: UsageLine
    groups: list[UsageLine]


class UsageReport(BaseModel):
    session: UsageSessionRef | None
    labels: dict[str, str]
    since: float | None
    by: str | None
    total: UsageLine
    groups: list[UsageLine]
    side: UsageSide | None  # None: telemetry is off, side requests are not counted
    context: ContextWindow | None
    skipped_lines: int
    errors: dict[str, int]
    prices_as_of: str

    @classmethod
    def of(cls, r: UsageReportRecord) -> UsageReport:
        return cls(
            session=None if r.session is None else UsageSessionRef(id=r.session[0],
                                                                   name=r.session[1]),
            labels=r.labels, since=r.since, by=r.by, total=UsageLine.of(r.total),
            groups=[UsageLine.of(line) for line in r.lines],
            side=None if r.side is None else UsageSide(
                total=UsageLine.of(r.side), groups=[UsageLine.of(x) for x in r.side_lines]),
            context=None if r.context is None else ContextWindow.of(r.context),
            skipped_lines=r.skipped_lines, errors=r.errors, prices_as_of=r.prices_as_of,
        )


class SessionUsage(BaseModel):
    cost_micros: int
    unpriced_models: list[str]
    context: ContextWindow | None

    @classmethod
    def of(cls, u: SessionUsageRecord) -> SessionUsage:
        return cls(cost_micros=u.cost_micros, unpriced_models=list(u.unpriced),
                   context=None if u.context is None else ContextWindow.of(u.context))


class SessionUsages(BaseModel):
    items: dict[str, SessionUsage]  # session id → its cost and context as last read


class BudgetStanding(BaseModel):
    scope: str  # session | project | day
    key: str  # the session id, the project's directory, "" for the day
    label: str  # the session's name (or id), for a session budget
    limit_micros: int
    default: bool  # from config (budgets.session, budgets.day), not set
    period: str  # the UTC day of a day budget, "" otherwise
    spent_micros: int
    percent: float
    level: str  # "", warn, exceeded

    @classmethod
    def of(cls, s: StandingRecord) -> BudgetStanding:
        b = s.budget
        return cls(scope=b.scope, key=b.key, label=s.label, limit_micros=b.limit_micros,
                   default=b.default, period=s.period, spent_micros=s.spent_micros,
                   percent=s.percent, level=s.level)


class BudgetList(BaseModel):
    items: list[BudgetStanding]
    action: str  # budgets.action: interrupt | notify
    warn_at: float


class BudgetRemoved(BaseModel):
    removed: bool
    default: BudgetStanding | None  # the config default in force now, if any
