"""sm's MCP tools: the agent-facing operations, each one call to the operations layer.

A tool is an async function registered with ``@tool(name)``: its signature is the tool's
input schema (the SDK validates the arguments against it), its docstring the tool's
description, and its body one operation called with the proven caller that the HTTP
endpoint put in the request (``using``), the record turned into its wire shape
(``sm/api/models.py``). Errors are the one error tree: an ``SmError`` becomes the tool's
error, ``code: message``, and so does a bad argument (``invalid_input: …``).

Adding a tool is a few lines::

    @tool("note_read")
    async def note_read(ctx: Ctx, key: str) -> Result:
        \"\"\"Read a note by its key.\"\"\"
        ops, caller = using(ctx)
        return dump(await ops.notes.read(caller, key))
"""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, ValidationError

import sm
from sm.api import models as api
from sm.api.validation import validation_message
from sm.core.caller import Caller
from sm.core.jobs import NewJob
from sm.core.sessions import SpawnRequest
from sm.errors import InvalidInput, SmError
from sm.ops import Ops
from sm.ops.jobs import AddJobs, FinishJob, WaitJobs
from sm.ops.kb import Learn, Learning, SearchKb
from sm.ops.notes import ListNotes, ReadNote, WatchNotes, WriteNote

# what the HTTP endpoint puts in each request's ASGI scope
CALLER = "sm.caller"
OPS = "sm.ops"

Ctx = Context[Any]
Result = dict[str, Any]
Mode = Literal["sequential", "important", "urgent"]
ToolFn = Callable[..., Awaitable[Result]]

TOOLS: list[tuple[str, ToolFn]] = []

INSTRUCTIONS = (
    "sm is the session manager this agent runs in. These tools are sm's agent-facing "
    "operations, done as this session (the same as the `sm` command): message, spawn and "
    "wait for other agents, set this session's status line, take locks on paths before "
    "editing shared files, arm reminders, ask the human. Sessions are named by id, unique "
    "id prefix or name."
)


class SmToolError(ToolError):
    """An ``SmError`` from an operation, as the tool's error text ``code: message``."""

    def __init__(self, exc: SmError) -> None:
        super().__init__(f"{exc.code}: {exc.message}")


def tool(name: str) -> Callable[[ToolFn], ToolFn]:
    """Register ``fn`` as the tool ``name``."""

    def register(fn: ToolFn) -> ToolFn:
        @functools.wraps(fn)
        async def call(*args: Any, **kwargs: Any) -> Result:
            try:
                return await fn(*args, **kwargs)
            except SmError as exc:
                raise SmToolError(exc) from None

        TOOLS.append((name, call))
        return call

    return register


def using(ctx: Ctx) -> tuple[Ops, Caller]:
    """The operations and the caller the endpoint proved for this request."""
    request = ctx.request_context.request
    scope = getattr(request, "scope", None) or {}
    if CALLER not in scope or OPS not in scope:
        raise SmToolError(InvalidInput("sm's MCP tools are served by the sm daemon only"))
    return scope[OPS], scope[CALLER]


def dump(model: BaseModel) -> Result:
    """The record as the HTTP API answers it (``sm/api/models.py``)."""
    out: Result = model.model_dump(mode="json", by_alias=True)
    return out


def _here(caller: Caller, cwd: str) -> str:
    """A directory argument, by default the calling session's own."""
    return cwd or (caller.session.cwd if caller.session is not None else "")


def _ref(caller: Caller, ref: str, what: str) -> str:
    """A session argument, by default the calling session."""
    if ref:
        return ref
    return caller.require_session(f"{what}: name a session").id


class Server(MCPServer[Any]):
    """The SDK's server with sm's errors: a bad argument is ``invalid_input`` naming the
    field, an operation's error its own ``code: message``."""

    async def call_tool(self, name: str, arguments: dict[str, Any],
                        context: Context[Any] | None = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, SmToolError):
                raise cause from None
            if isinstance(cause, ValidationError):
                errors = [dict(e) for e in cause.errors()]
                raise ToolError(f"invalid_input: {name}: {validation_message(errors)}") from None
            raise


def build() -> Server:
    """A server with every registered tool."""
    server = Server("sm", version=sm.__version__, instructions=INSTRUCTIONS)
    for name, fn in TOOLS:
        server.add_tool(fn, name=name)
    return server


# -- messages ----------------------------------------------------------------------------

@tool("send")
async def send(ctx: Ctx, targets: list[str], body: str, mode: Mode = "sequential",
               notify_on_stop: bool | None = None, ttl: float | None = None) -> Result:
    """Send a message to one or more sessions (id, id prefix or name). It is queued
    durably and typed into each target at its next turn boundary (mode "sequential"),
    ahead of queued messages without interrupting ("important"), or interrupting its turn
    ("urgent"). notify_on_stop: be told when the target's turn after it ends. ttl: seconds
    after which an undelivered message expires."""
    ops, caller = using(ctx)
    msgs = await ops.messages.send(caller, targets, body, mode, notify_on_stop=notify_on_stop,
                                   ttl=ttl)
    return {"items": [dump(api.Message.of(m, full=False)) for m in msgs]}


@tool("messages")
async def messages(ctx: Ctx, to: str = "", sender: str = "", state: list[str] | None = None,
                   limit: int = 20) -> Result:
    """The newest messages this session may read (its own and those of the sessions below
    it), oldest first, filtered by target, sender or state (queued, delivered, …). Reading
    never changes a message."""
    ops, caller = using(ctx)
    rows = await ops.messages.list(caller, to=to or None, sender=sender or None, states=state,
                                   limit=limit)
    return {"items": [dump(api.Message.of(m, full=False)) for m in rows]}


@tool("message")
async def message(ctx: Ctx, id: str) -> Result:
    """One message with its whole body (by id or unique id prefix)."""
    ops, caller = using(ctx)
    return dump(api.Message.of(await ops.messages.get(caller, id)))


# -- sessions ----------------------------------------------------------------------------

@tool("spawn")
async def spawn(ctx: Ctx, provider: str, prompt: str = "", name: str | None = None,
                cwd: str = "", model: str = "", options: dict[str, Any] | None = None,
                worktree: dict[str, Any] | None = None) -> Result:
    """Start an agent (provider: claude, codex, scripted, shell) as a child of this
    session; the prompt is its first message. cwd: by default this session's directory.
    worktree: {branch, base, repo} to start it in a new git worktree."""
    ops, caller = using(ctx)
    opts = dict(options or {})
    if model:
        opts["model"] = model
    req = SpawnRequest(provider, prompt, name, _here(caller, cwd), opts, worktree)
    return dump(api.Session.of(await ops.sessions.spawn(caller, req)))


@tool("list")
async def list_sessions(ctx: Ctx, live: bool = True) -> Result:
    """Sessions with their state and status line (live ones only unless live is false)."""
    ops, caller = using(ctx)
    page = await ops.sessions.list(caller, live=live, limit=1000)
    return {"items": [dump(api.Session.of(r)) for r in page.items]}


@tool("session")
async def session(ctx: Ctx, ref: str = "") -> Result:
    """One session's record: state, status line, parent, last message (by default this
    session's own)."""
    ops, caller = using(ctx)
    return dump(api.Session.of(await ops.sessions.get(caller, _ref(caller, ref, "session"))))


@tool("children")
async def children(ctx: Ctx, session: str = "", recursive: bool = False,
                   all: bool = False) -> Result:
    """The sessions a session spawned (by default this session's; recursive: theirs too;
    all: ended ones too)."""
    ops, caller = using(ctx)
    rows = await ops.coordination.children(caller, _ref(caller, session, "children"),
                                           recursive, live_only=not all)
    return {"items": [dump(api.Session.of(r)) for r in rows]}


# -- coordination ------------------------------------------------------------------------

@tool("status")
async def status(ctx: Ctx, text: str) -> Result:
    """Set this session's status line (what it is doing now; its parent and the human
    see it)."""
    ops, caller = using(ctx)
    return dump(api.Session.of(await ops.coordination.set_status(caller, text)))


@tool("wait")
async def wait(ctx: Ctx, session: str, timeout: float = 30.0, notify: bool = False) -> Result:
    """Wait until a session is idle with nothing undelivered, or dead, for at most timeout
    seconds (at most 30 per call: call again). notify: answer at once and send this
    session a message when it settles instead."""
    ops, caller = using(ctx)
    if notify:
        watcher = await ops.coordination.watch(caller, session, timeout)
        return {"watcher": dump(api.Watcher.of(watcher))}
    return dump(api.WaitResult.of(await ops.coordination.wait(caller, session, timeout)))


@tool("dispatch")
async def dispatch(ctx: Ctx, agent: str, role: str, params: dict[str, str] | None = None,
                   cwd: str = "", dry_run: bool = False, clear: bool = True,
                   mode: Mode = "sequential") -> Result:
    """Give a session below this one a task from a role template (engineer, architect,
    scout, reviewer, …; params fill the template): clear its conversation, send it the
    text, be told when it stops. dry_run: only show the text."""
    ops, caller = using(ctx)
    out = await ops.coordination.dispatch(caller, agent, role, params or {},
                                          _here(caller, cwd), dry_run=dry_run, clear=clear,
                                          mode=mode)
    return {
        "text": out.text, "role": out.role,
        "session": dump(api.Session.of(out.target)) if out.target else None,
        "message": dump(api.Message.of(out.message, full=False)) if out.message else None,
    }


@tool("remind")
async def remind(ctx: Ctx, delay: str, text: str, recurring: bool = False) -> Result:
    """Arm a reminder this session receives (as an important message) after delay
    ("90s", "10m", "2h"); recurring: every delay."""
    ops, caller = using(ctx)
    return dump(api.Reminder.of(await ops.coordination.remind(caller, delay, text,
                                                              recurring)))


# -- locks -------------------------------------------------------------------------------

@tool("lock")
async def lock(ctx: Ctx, paths: list[str], cwd: str = "", reason: str = "",
               ttl: float | None = None, wait: float = 0.0, workspace: bool = False) -> Result:
    """Lock paths (files or directories, relative to cwd: by default this session's
    directory) for this session, all or none; other sessions' writes to them are refused
    until unlock. wait: seconds to wait for a holder to release. workspace: the whole
    repository."""
    ops, caller = using(ctx)
    held = await ops.locks.lock(caller, paths, _here(caller, cwd), reason=reason, ttl=ttl,
                                wait=wait, workspace=workspace)
    return {"items": [dump(api.Lease.of(h)) for h in held]}


@tool("unlock")
async def unlock(ctx: Ctx, paths: list[str] | None = None, cwd: str = "",
                 force: bool = False) -> Result:
    """Release this session's locks on paths (all of them without paths). force: break
    the lock of a session below this one."""
    ops, caller = using(ctx)
    held = await ops.locks.unlock(caller, paths or [], _here(caller, cwd) or "/", force=force)
    return {"items": [dump(api.Lease.of(h)) for h in held]}


@tool("locks")
async def locks(ctx: Ctx, session: str = "", under: str = "") -> Result:
    """Current locks (of one session, or overlapping a path) and who waits for which."""
    ops, caller = using(ctx)
    table = await ops.locks.table(caller, session or None, under or None)
    return {"items": [dump(api.Lease.of(h)) for h in table.items], "waiting": table.waiting}


# -- the human ---------------------------------------------------------------------------

@tool("ask")
async def ask(ctx: Ctx, question: str, choices: list[str] | None = None,
              timeout: float = 600.0, wait: float = 60.0) -> Result:
    """Ask the human a question (on every surface: terminal, Telegram, web), optionally
    with choices; waits up to wait seconds (at most 60) for the answer. Unanswered: call
    ask_result with its id to wait again. timeout: seconds the question stays open."""
    ops, caller = using(ctx)
    rec = await ops.asks.ask(caller, os.urandom(8).hex(), question, choices or [], timeout)
    if wait > 0:
        rec = await ops.asks.wait(caller, rec.id, wait)
    return dump(api.Ask.of(rec))


@tool("ask_result")
async def ask_result(ctx: Ctx, id: str, wait: float = 60.0) -> Result:
    """A question asked with ask, once answered or expired, or as it stands after wait
    seconds (at most 60)."""
    ops, caller = using(ctx)
    return dump(api.Ask.of(await ops.asks.wait(caller, id, wait)))


# -- notes: a scratchpad shared by every session ------------------------------------------

@tool("note_read")
async def note_read(ctx: Ctx, key: str) -> Result:
    """Read a note by its key (keys are /-separated words, e.g. build/status)."""
    ops, caller = using(ctx)
    return dump(api.Note.of(await ops.notes.read(caller, ReadNote(key))))


@tool("note_write")
async def note_write(ctx: Ctx, key: str, value: str) -> Result:
    """Write a note: every session can read it, and note_watch wakes on it."""
    ops, caller = using(ctx)
    return dump(api.Note.of(await ops.notes.write(caller, WriteNote(key, value)), value=False))


@tool("note_list")
async def note_list(ctx: Ctx, prefix: str = "", after: str = "", limit: int = 100) -> Result:
    """Notes under a key prefix, in key order, values included (after: the key to page
    on from)."""
    ops, caller = using(ctx)
    return dump(api.NoteList.of(await ops.notes.list(caller, ListNotes(prefix, after, limit))))


@tool("note_watch")
async def note_watch(ctx: Ctx, keys: list[str] | None = None, prefix: str | None = None,
                     until: str | None = None, after: int | None = None,
                     timeout: float = 30.0) -> Result:
    """Wait (at most 30 s a call) until a watched key is written after event seq after,
    or holds the value until; call again with the seq it returns."""
    ops, caller = using(ctx)
    req = WatchNotes(tuple(keys or ()), prefix, until, after, timeout)
    return dump(api.NoteWatched.of(await ops.notes.watch(caller, req)))


# -- the knowledge base -------------------------------------------------------------------

@tool("kb_search")
async def kb_search(ctx: Ctx, query: str, project: str | None = None, limit: int = 20) -> Result:
    """Entries of the knowledge base with all the words of query (any, when none has
    all), best first: what sessions learned before."""
    ops, caller = using(ctx)
    hits = await ops.kb.search(caller, SearchKb(query, project, limit))
    return dump(api.EntryList(items=[api.Entry.hit(h) for h in hits]))


@tool("kb_learn")
async def kb_learn(ctx: Ctx, learnings: list[dict[str, Any]], scope: str = "project",
                   project: str | None = None) -> Result:
    """Report up to five things learned, each {title, content, tags}: duplicates merge
    into what is known."""
    ops, caller = using(ctx)
    items = []
    for i, item in enumerate(learnings):
        title, content, tags = item.get("title"), item.get("content"), item.get("tags", [])
        if not isinstance(title, str) or not isinstance(content, str) or not isinstance(
                tags, list) or not all(isinstance(t, str) for t in tags):
            raise SmToolError(InvalidInput(
                f"kb_learn: learnings[{i}]: expected {{title, content, tags}} with text "
                "title and content and a list of text tags"))
        items.append(Learning(title, content, tuple(tags)))
    added = await ops.kb.learn(caller, Learn(tuple(items), scope, project))
    return dump(api.EntriesAdded(items=[api.EntryAdded.of(a) for a in added]))


# -- jobs ----------------------------------------------------------------------------------

@tool("job_add")
async def job_add(ctx: Ctx, task: str, title: str | None = None, project: str | None = None,
                  provider: str | None = None, template: str | None = None,
                  depends_on: list[str] | None = None, priority: int = 0,
                  worktree: bool = False, checks: list[str] | None = None,
                  name: str | None = None, cwd: str = "") -> Result:
    """Queue a job: sm starts an agent for it when capacity allows (after the jobs it
    depends on succeeded), checks its result and retries by its policy. cwd: this
    session's by default."""
    ops, caller = using(ctx)
    job = NewJob(task=task, title=title, name=name, project=project, provider=provider,
                 cwd=_here(caller, cwd) or None,
                 template=template, depends_on=tuple(depends_on or ()), priority=priority,
                 worktree=worktree, checks=tuple(checks or ()))
    return dump(api.JobList.of_jobs(await ops.jobs.add(caller, AddJobs((job,)))))


@tool("job_wait")
async def job_wait(ctx: Ctx, refs: list[str], timeout: float = 30.0,
                   since: float | None = None) -> Result:
    """Wait (at most 30 s a call) until every named job ended; unended: call again with
    the since it returns."""
    ops, caller = using(ctx)
    out = await ops.jobs.wait(caller, WaitJobs(tuple(refs), timeout, since))
    return dump(api.JobsWaitedOut.of(out))


@tool("job_done")
async def job_done(ctx: Ctx, result: str = "") -> Result:
    """This session's job is done, with its result (it completes when the turn ends)."""
    ops, caller = using(ctx)
    return dump(api.Job.of(await ops.jobs.done(caller, FinishJob(result, None))))
