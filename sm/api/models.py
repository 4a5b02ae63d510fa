"""The wire: the JSON shapes sm's adapters speak (HTTP routes, MCP tools, the web).

Records from the store never know how they are shown; each shape here is built from
one with ``of``. The OpenAPI document (``/openapi.json``) is generated from these.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sm.core.budgets import Standing as StandingRecord
from sm.core.kb import Added
from sm.core.notes import Watched
from sm.core.usage import ContextUse, Line
from sm.ops.coordination import Waited
from sm.ops.git import SessionWorktree
from sm.ops.jobs import JobDetail, JobPage, ProjectView
from sm.ops.jobs import Waited as JobsWaited
from sm.ops.kb import EntryPage, Hit
from sm.ops.locks import Held
from sm.ops.notes import NotePage
from sm.ops.usage import SessionUsage as SessionUsageRecord
from sm.ops.usage import UsageReport as UsageReportRecord
from sm.store.asks import AskRecord
from sm.store.events import EventRecord
from sm.store.git import PrRecord, RepoRecord
from sm.store.inbox import NoteRecord as InboxRecord
from sm.store.job_templates import ProjectRecord, TemplateRecord, TemplateStats
from sm.store.jobs import JobRecord, RunRecord
from sm.store.kb import EntryRecord
from sm.store.messages import MessageRecord
from sm.store.notes import NoteRecord
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
    forgotten_at: float | None = None  # sm forget / sm prune: left out of lists
    # the last failure: class (rate_limit, overloaded, auth, context_limit, crash, other),
    # detail, reset_at (a rate limit's reset, when known), at
    failure: dict[str, Any] | None = None
    # a spawn whose agent is not launched yet: reason (a rate limit, paced launches), since
    launch_hold: dict[str, Any] | None = None
    launched_at: float | None = None  # when its agent's process was last started

    @classmethod
    def of(cls, rec: SessionRecord) -> Session:
        return cls(
            id=rec.id, name=rec.name, provider=rec.provider, state=rec.state, cwd=rec.cwd,
            tmux_session=rec.tmux_session, parent_id=rec.parent_id, options=rec.options,
            conversation_id=rec.conversation_id, transcript_path=rec.transcript_path,
            last_message=rec.last_message, exit_status=rec.exit_status,
            status_text=rec.status_text, role=rec.role, created_at=rec.created_at,
            updated_at=rec.updated_at, forgotten_at=rec.forgotten_at, failure=rec.failure,
            launch_hold=rec.launch_hold, launched_at=rec.launched_at,
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


class InboxNote(BaseModel):
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
    def of(cls, n: InboxRecord) -> InboxNote:
        return cls.model_validate({
            "id": n.id, "from": n.sender_label, "sender_id": n.sender_id, "body": n.body,
            "created_at": n.created_at, "read": n.is_read, "read_at": n.read_at,
            "read_by": n.read_by,
        })


class InboxNoteList(BaseModel):
    items: list[InboxNote]


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
        return cls(**ctx.public())


class UsageSessionRef(BaseModel):
    id: str
    name: str | None


class UsageJobRef(BaseModel):
    id: str
    name: str | None
    sessions: list[str]  # every session the job ran in, oldest first


class UsageSide(BaseModel):
    total: UsageLine
    groups: list[UsageLine]


class UsageReport(BaseModel):
    session: UsageSessionRef | None
    job: UsageJobRef | None
    project: str | None
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
            job=None if r.job is None else UsageJobRef(id=r.job.id, name=r.job.name,
                                                       sessions=list(r.job.sessions)),
            project=r.project,
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
# -- notes ------------------------------------------------------------------------------


class Note(BaseModel):
    key: str
    version: int
    seq: int  # the event seq of the last write
    written_by: str | None
    writer: str
    size: int  # bytes of the value
    created_at: float
    updated_at: float
    value: str | None = None  # left out where only the write is confirmed

    @classmethod
    def of(cls, n: NoteRecord, value: bool = True) -> Note:
        return cls(key=n.key, version=n.version, seq=n.seq, written_by=n.written_by,
                   writer=n.writer, size=len(n.value.encode()), created_at=n.created_at,
                   updated_at=n.updated_at, value=n.value if value else None)


class NoteList(BaseModel):
    items: list[Note]
    next: str | None
    watching: int  # watches blocked right now

    @classmethod
    def of(cls, page: NotePage) -> NoteList:
        return cls(items=[Note.of(n) for n in page.items], next=page.next,
                   watching=page.watching)


class NoteWatched(BaseModel):
    outcome: Literal["written", "matched", "timeout"]
    note: Note | None
    seq: int  # the cursor (``after``) to ask again with

    @classmethod
    def of(cls, w: Watched) -> NoteWatched:
        return cls(outcome=w.outcome, note=Note.of(w.note) if w.note else None, seq=w.seq)


class NoteRemoved(BaseModel):
    key: str
    removed: bool = True


# -- the knowledge base -----------------------------------------------------------------


class Entry(BaseModel):
    id: int
    title: str
    content: str
    tags: list[str]
    scope: str
    project: str | None
    job_id: str | None
    session_id: str | None
    agent: str
    seen: int
    created_at: float
    updated_at: float
    rank: float | None = None  # in search results: bm25, lower is better

    @classmethod
    def of(cls, e: EntryRecord, rank: float | None = None) -> Entry:
        return cls(id=e.id, title=e.title, content=e.content, tags=e.tag_list, scope=e.scope,
                   project=e.project, job_id=e.job_id, session_id=e.session_id,
                   agent=e.agent, seen=e.seen, created_at=e.created_at,
                   updated_at=e.updated_at, rank=rank)

    @classmethod
    def hit(cls, h: Hit) -> Entry:
        return cls.of(h.entry, h.rank)


class EntryList(BaseModel):
    items: list[Entry]
    next: int | None = None

    @classmethod
    def of(cls, page: EntryPage) -> EntryList:
        return cls(items=[Entry.of(e) for e in page.items], next=page.next)


class EntryAdded(BaseModel):
    entry: Entry
    merged: bool  # a duplicate: merged into ``entry``

    @classmethod
    def of(cls, a: Added) -> EntryAdded:
        return cls(entry=Entry.of(a.entry), merged=a.merged)


class EntriesAdded(BaseModel):
    items: list[EntryAdded]


class Memory(BaseModel):
    text: str


# -- jobs -------------------------------------------------------------------------------


class Job(BaseModel):
    id: str
    name: str | None
    title: str | None
    task: str
    template: str | None
    context: dict[str, str]
    project: str
    provider: str
    model: str | None
    options: dict[str, Any]
    cwd: str
    worktree: bool
    priority: int
    state: str
    run_at: float | None
    cron: str | None
    every: float | None
    max_turns: int
    max_seconds: float | None
    checks: list[str]
    retry: str
    max_attempts: int
    backoff: float
    attempt: int
    starts: int
    runs: int
    session_id: str | None
    session_name: str | None
    base_commit: str | None
    turns: int
    done_at: float | None
    result: str | None
    last_message: str | None
    reason: str | None
    cause: str | None
    diagnosis: str | None
    pr_url: str | None
    created_by: str | None
    creator: str
    created_at: float
    started_at: float | None
    ended_at: float | None
    updated_at: float
    depends_on: list[str]

    @classmethod
    def of(cls, j: JobRecord) -> Job:
        return cls.model_validate({**{k: getattr(j, k) for k in cls.model_fields},
                                   "depends_on": list(j.depends_on)})


class JobList(BaseModel):
    items: list[Job]
    next: str | None = None

    @classmethod
    def of(cls, page: JobPage) -> JobList:
        return cls(items=[Job.of(j) for j in page.items], next=page.next)

    @classmethod
    def of_jobs(cls, jobs: list[JobRecord]) -> JobList:
        return cls(items=[Job.of(j) for j in jobs])


class Run(BaseModel):
    id: int
    job_id: str
    run: int
    attempt: int
    session_id: str | None
    template: str | None
    outcome: str
    reason: str | None
    result: str | None
    turns: int
    started_at: float
    ended_at: float

    @classmethod
    def of(cls, r: RunRecord) -> Run:
        return cls(id=r.id, job_id=r.job_id, run=r.run, attempt=r.attempt,
                   session_id=r.session_id, template=r.template, outcome=r.outcome,
                   reason=r.reason, result=r.result, turns=r.turns, started_at=r.started_at,
                   ended_at=r.ended_at)


class JobShown(BaseModel):
    job: Job
    runs: list[Run]  # its finished attempts
    events: list[dict[str, Any]]

    @classmethod
    def of(cls, d: JobDetail) -> JobShown:
        return cls(job=Job.of(d.job), runs=[Run.of(r) for r in d.runs], events=d.events)


class JobsWaitedOut(BaseModel):
    items: list[Job]
    ended: bool
    since: float  # ask again with it

    @classmethod
    def of(cls, w: JobsWaited) -> JobsWaitedOut:
        return cls(items=[Job.of(j) for j in w.jobs], ended=w.ended, since=w.since)


class TemplateStatsOut(BaseModel):
    template: str
    attempts: int
    succeeded: int
    success_rate: float | None
    mean_turns: float | None
    mean_seconds: float | None
    cost: float | None

    @classmethod
    def of(cls, s: TemplateStats) -> TemplateStatsOut:
        return cls(template=s.template, attempts=s.attempts, succeeded=s.succeeded,
                   success_rate=s.success_rate, mean_turns=s.mean_turns,
                   mean_seconds=s.mean_seconds, cost=s.cost)


class Template(BaseModel):
    name: str
    guidelines: str
    provider: str | None
    model: str | None
    cwd: str | None
    options: dict[str, Any]
    created_at: float
    updated_at: float
    stats: TemplateStatsOut | None = None  # in lists

    @classmethod
    def of(cls, t: TemplateRecord, stats: TemplateStats | None = None) -> Template:
        return cls(name=t.name, guidelines=t.guidelines, provider=t.provider, model=t.model,
                   cwd=t.cwd, options=t.options, created_at=t.created_at,
                   updated_at=t.updated_at,
                   stats=TemplateStatsOut.of(stats) if stats is not None else None)


class TemplateList(BaseModel):
    items: list[Template]


class Project(BaseModel):
    name: str
    max_concurrent: int
    created_at: float
    jobs: dict[str, int] | None = None  # in lists: jobs per state

    @classmethod
    def of(cls, p: ProjectRecord, counts: dict[str, int] | None = None) -> Project:
        return cls(name=p.name, max_concurrent=p.max_concurrent, created_at=p.created_at,
                   jobs=counts)

    @classmethod
    def view(cls, v: ProjectView) -> Project:
        return cls.of(v.project, v.counts)


class ProjectList(BaseModel):
    items: list[Project]
