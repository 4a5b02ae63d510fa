"""Running jobs: starting their agents, reacting to their turn ends and exits, the
completion checks, success (a PR for a worktree job, the next run of a recurring one),
failure under the retry policy (a diagnosis turn for ``analyze``), and reconciling the
jobs that were running when the last daemon died.

Every step that waits on an agent, a check or git runs as a background task, so a
hook that reports a turn end, or the dispatcher, never waits for it. Sessions are
reached only through ``Agents``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from sm.core import jobs as rules
from sm.core.job_agents import AgentFact, Agents, AgentSpec
from sm.core.job_checks import Checks
from sm.core.job_ledger import JobLedger
from sm.core.kb import KnowledgeBase
from sm.errors import InvalidInput, SmError
from sm.store import Store
from sm.store.jobs import JobRecord
from sm.vocab import JobState

log = logging.getLogger("sm.jobs")
Q, RUN, CHECK, ANALYZE = (JobState.QUEUED, JobState.RUNNING, JobState.CHECKING,
                          JobState.ANALYZING)
MAX_DIAGNOSIS = 2000


class JobRunner:
    def __init__(
        self,
        store: Store,
        ledger: JobLedger,
        agents: Agents,
        *,
        checks: Checks,
        kb: KnowledgeBase | None,
        analyze_seconds: float,
        max_prompt_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.ledger = ledger
        self.agents = agents
        self.checks = checks
        self.kb = kb
        self.analyze_seconds = analyze_seconds
        self.max_prompt_bytes = max_prompt_bytes
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._expiring: set[str] = set()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def settle(self) -> None:
        """Wait until no background step runs (for tests and benchmarks)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- time limits --------------------------------------------------------------------------
    def deadline(self, job: JobRecord) -> float | None:
        """When a running job's wall time, or an analysis, runs out (None: never)."""
        if job.state == RUN and job.max_seconds and job.started_at and job.session_id:
            return job.started_at + job.max_seconds
        if job.state == ANALYZE and job.ended_at:
            return job.ended_at + self.analyze_seconds
        return None

    def expire(self, job: JobRecord, now: float) -> None:
        """End a job whose deadline passed by ``now`` (once, however often asked)."""
        deadline = self.deadline(job)
        if deadline is None or deadline > now or job.id in self._expiring:
            return
        self._expiring.add(job.id)
        if job.state == RUN:
            step = self._fail(job, f"wall time {job.max_seconds:g}s exceeded", (RUN,),
                              keep_session=False)
        else:
            step = self._diagnosed(job, None)
        self._background(step, done=job.id)

    # -- running a job ----------------------------------------------------------------------
    async def start(self, job: JobRecord) -> None:
        """Start the job: its row says running (and names its session) before the
        session exists; the session is started beside the caller."""
        n = job.starts + 1
        moved = await self.ledger.move(
            job, (Q,), RUN, "start", deps_done=True, attempt=job.attempt + 1, starts=n,
            session_name=f"job-{job.id}-{n}", session_id=None, started_at=self.clock(),
            turns=0,
            done_at=None, result=None, last_message=None, base_commit=None)
        if moved is not None:
            self._background(self._launch(moved))

    async def _launch(self, job: JobRecord) -> None:
        assert job.session_name is not None
        try:
            text = await self._prompt(job)
            info = await self.agents.spawn(self._spec(job, job.session_name))
        except SmError as exc:
            await self._fail(job, f"its agent could not start: {exc.message}", (RUN,))
            return
        # diff_not_empty compares with the commit the attempt started from
        base = await self.checks.head(info.cwd) if "diff_not_empty" in job.checks else None
        if not await self.ledger.attach(job, RUN, info, base_commit=base):
            return
        await self.agents.send(info.id, text)

    def _spec(self, job: JobRecord, name: str) -> AgentSpec:
        options = dict(job.options)
        if job.model:
            options["model"] = job.model
        return AgentSpec(name=name, provider=job.provider, cwd=job.cwd, job_id=job.id,
                         options=options, worktree=job.worktree)

    async def _prompt(self, job: JobRecord) -> str:
        template = await self.store.job_templates.get(job.template) if job.template else None
        memory = ""
        if self.kb is not None:
            memory = await self.kb.memory_for(job.project, f"{job.title or ''} {job.task}")
        text = rules.prompt(job, template, memory)
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > self.max_prompt_bytes:
            raise InvalidInput(f"its prompt is {size} bytes; the limit is "
                               f"{self.max_prompt_bytes} (limits.max_prompt_bytes)")
        return text

    # -- facts from the agents ----------------------------------------------------------------
    async def on_fact(self, fact: AgentFact) -> None:
        self._background(self._handle(fact))

    async def _handle(self, fact: AgentFact) -> None:
        job = await self.store.jobs.by_session(fact.session_id)
        if job is None:
            return
        if job.state == ANALYZE:
            if fact.kind == "turn_end":
                info = await self.agents.get(fact.session_id)
                await self._diagnosed(job, job.result or (info.last_message if info else None))
            else:
                await self._diagnosed(job, None)
        elif job.state == RUN:
            if fact.kind == "turn_end" or job.done_at is not None:
                await self.turn_ended(job)
            else:
                await self._fail(job, f"its agent session {job.session_name} "
                                      f"{fact.detail or 'exited'}", (RUN,))

    def complete_now(self, job: JobRecord) -> None:
        """The operator says the running job is done: complete it as if its turn ended."""
        self._background(self.turn_ended(job))

    async def turn_ended(self, job: JobRecord) -> None:
        """The agent's turn ended: record the turn and run the completion checks."""
        info = await self.agents.get(job.session_id) if job.session_id else None
        moved = await self.ledger.move(
            job, (RUN,), CHECK, "turn_end", turns=job.turns + 1,
            last_message=info.last_message if info else job.last_message)
        if moved is not None:
            await self._complete(moved)

    async def _complete(self, job: JobRecord) -> None:
        """Run the completion checks of a job whose turn ended, then finish it."""
        info = await self.agents.get(job.session_id) if job.session_id else None
        cwd = info.cwd if info else job.cwd
        text = "\n".join(t for t in (job.last_message, job.result) if t)
        for check in job.checks:
            result = await self.checks.run(check, cwd, text=text, base_commit=job.base_commit,
                                           env={"SM_JOB_ID": job.id})
            if result.ok:
                continue
            if job.done_at is None and job.turns < job.max_turns and info and info.live:
                if await self.ledger.move(job, (CHECK,), RUN, "continue", detail={"check": check}):
                    await self.agents.send(info.id, rules.follow_up(check, result.output))
                return
            await self._fail(job, f"completion check {check} failed: {result.output}", (CHECK,))
            return
        await self._succeed(job)

    async def _succeed(self, job: JobRecord) -> None:
        now = self.clock()
        fields: dict[str, Any] = {}
        if job.worktree and job.session_id:
            published = await self.agents.publish(
                job.session_id, job.title or job.task.splitlines()[0][:72],
                job.result or job.last_message or "", open_pr=True)
            fields["pr_url"] = published.pr_url
            if published.note:
                log.warning("job %s: %s", job.id, published.note)
        run = self.ledger.run(job, "succeeded", None)
        nxt = rules.next_run(job.cron, job.every, now)
        if nxt is not None:
            await self.ledger.move(job, (CHECK,), Q, "repeat", run=run, kill=job.session_id,
                                   runs=job.runs + 1, attempt=0, run_at=nxt, reason=None,
                                   diagnosis=None, ended_at=now, **fields)
        else:
            await self.ledger.move(job, (CHECK,), JobState.SUCCEEDED, "succeed", run=run,
                                   kill=job.session_id, runs=job.runs + 1, reason=None,
                                   ended_at=now, **fields)

    async def _fail(self, job: JobRecord, reason: str, expect: tuple[str, ...],
                    keep_session: bool = True) -> None:
        """A failed attempt: its policy decides between analysing, retrying and failing
        (then its dependents fail too)."""
        now = self.clock()
        decision = rules.after_failure(job)
        sid = job.session_id
        if job.worktree and sid:
            await self.agents.publish(sid, "", "", open_pr=False)
        run = self.ledger.run(job, "failed", reason)
        if decision == "analyze":
            moved = await self.ledger.move(job, expect, ANALYZE, "analyze", run=run,
                                           reason=reason, ended_at=now, done_at=None,
                                           result=None)
            if moved is not None:
                await self._analyze(moved, keep_session)
            return
        if decision == "retry":
            await self.ledger.move(job, expect, Q, "retry", run=run, kill=sid, reason=reason,
                                   ended_at=now,
                                   run_at=now + rules.retry_delay(job.backoff, job.attempt))
        else:
            await self.ledger.move(job, expect, JobState.FAILED, "fail", run=run,
                                   cascade=True, kill=sid, reason=reason, ended_at=now)

    async def _analyze(self, job: JobRecord, keep_session: bool) -> None:
        """The diagnosis turn: in the failed session when it sits idle (it knows what it
        did), else in a fresh one in the same directory."""
        text = rules.analysis_prompt(job, job.reason or "", job.last_message)
        info = await self.agents.get(job.session_id) if job.session_id else None
        if info is not None and info.live and info.settled and keep_session:
            await self.agents.send(info.id, text)
            return
        n = job.starts + 1
        name = f"job-{job.id}-{n}"
        moved = await self.ledger.move(job, (ANALYZE,), ANALYZE, "", starts=n, session_name=name,
                                       session_id=None,
                                       kill=info.id if info is not None and info.live else None)
        if moved is None:
            return
        spec = AgentSpec(name=name, provider=job.provider, cwd=info.cwd if info else job.cwd,
                         job_id=job.id, options=self._spec(job, name).options)
        try:
            spawned = await self.agents.spawn(spec)
        except SmError as exc:
            log.warning("job %s: no diagnosis (%s)", job.id, exc.message)
            await self._diagnosed(moved, None)
            return
        if await self.ledger.attach(moved, ANALYZE, spawned):
            await self.agents.send(spawned.id, text)

    async def _diagnosed(self, job: JobRecord, diagnosis: str | None) -> None:
        text = (diagnosis or "").strip()[:MAX_DIAGNOSIS] or None
        await self.ledger.move(job, (ANALYZE,), Q, "retry", kill=job.session_id, diagnosis=text,
                               done_at=None, result=None,
                               run_at=self.clock() + rules.retry_delay(job.backoff, job.attempt))

    # -- after a restart ----------------------------------------------------------------------
    async def reconcile(self) -> None:
        """Settle the jobs that were active when the last daemon stopped: a session
        that is alive keeps its job (a turn that ended meanwhile is handled now); a
        dead one goes to the retry policy; one that never started is queued again."""
        for job in await self.store.jobs.active():
            try:
                await self._reconcile(job)
            except SmError as exc:
                log.warning("job %s: reconcile failed: %s", job.id, exc.message)

    async def _reconcile(self, job: JobRecord) -> None:
        info = await self.agents.get(job.session_id) if job.session_id else None
        if info is None and job.session_name:
            info = await self.agents.find(job.session_name)
            if info is not None and not await self.ledger.attach(job, job.state, info):
                return
            job = await self.ledger.get(job.id)
        if job.state == CHECK:
            self._background(self._complete(job))
        elif job.state == ANALYZE:
            if info is None or not info.live:
                await self._diagnosed(job, None)
            elif info.settled:
                await self._diagnosed(job, job.result or info.last_message)
        elif info is None:
            await self.ledger.move(job, (RUN,), Q, "requeue", attempt=max(0, job.attempt - 1),
                                   reason=job.reason)
        elif not info.live:
            self._background(self._handle(AgentFact(info.id, "exit", f"{info.state} while "
                                                    "sm was down")))
        elif not info.prompted:
            await self.agents.send(info.id, await self._prompt(job))
        elif info.settled:
            self._background(self.turn_ended(job))

    def _background(self, step: Coroutine[Any, Any, None], done: str = "") -> None:
        """Run ``step`` beside the caller; ``done``: a job id to drop from
        ``_expiring`` after."""
        task = asyncio.create_task(step)
        self._tasks.add(task)

        def finished(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            self._expiring.discard(done)
            if not t.cancelled() and t.exception() is not None:
                exc = t.exception()
                log.error("job step failed: %s", exc, exc_info=exc)

        task.add_done_callback(finished)
