"""The operations for jobs, notes and the knowledge base: who may do what, what a
session's call means (its job, its directory, its identity), template statistics,
requeue and the operator's done — on a real store with fake agents."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from sm.core.caller import Caller
from sm.core.events import EventBus
from sm.core.job_checks import Checks
from sm.core.job_queue import JobQueue
from sm.core.jobs import JobDefaults, NewJob
from sm.core.kb import KnowledgeBase
from sm.core.notes import Notes
from sm.errors import Conflict, InvalidInput, NotFound, Refused
from sm.ops.authz import Authz
from sm.ops.jobs import (
    AddJobs,
    CancelJobs,
    FinishJob,
    JobRef,
    JobsOps,
    ListJobs,
    PutTemplate,
    SetProject,
    WaitJobs,
)
from sm.ops.kb import AddEntry, EditEntry, EntryRef, KbOps, Learn, Learning
from sm.ops.notes import NotesOps, ReadNote, WriteNote
from sm.store import Store
from sm.store.sessions import SessionRecord
from tests.unit.fake_agents import FakeAgents

OPERATOR = Caller.operator()


def _session(sid: str, cwd: str) -> Caller:
    return Caller.of(SessionRecord(id=sid, name=f"n-{sid}", provider="scripted", state="idle",
                                   cwd=cwd, tmux_session=f"sm-{sid}", parent_id=None,
                                   options={}, created_at=0.0, updated_at=0.0))


@dataclass
class World:
    jobs: JobsOps
    kb: KbOps
    notes: NotesOps
    queue: JobQueue
    agents: FakeAgents
    cwd: Path


def run(tmp_path: Path, test: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        store = await Store.open(tmp_path / "sm.db")
        bus = EventBus()
        agents = FakeAgents()
        kb = KnowledgeBase(store, bus)
        queue = JobQueue(store, bus, agents, checks=Checks(), kb=kb,
                         defaults=JobDefaults(provider="scripted"), max_concurrent=4)
        await queue.start(dispatch=False)
        try:
            await test(World(JobsOps(queue, Authz(store)), KbOps(kb, queue, "default"),
                             NotesOps(Notes(store, bus, max_value_bytes=100)), queue, agents,
                             tmp_path))
        finally:
            await queue.close()
            await store.close()

    asyncio.run(main())


def test_who_may_cancel_retry_and_requeue(tmp_path: Path) -> None:
    async def test(w: World) -> None:
        mine, other = _session("s-a", str(w.cwd)), _session("s-b", str(w.cwd))
        (job,) = await w.jobs.add(mine, AddJobs((NewJob("t", name="theirs"),)))
        assert job.created_by == "s-a" and job.creator == "n-s-a"
        assert job.cwd == str(w.cwd.resolve())  # a session's jobs run where it works
        with pytest.raises(Refused, match="session n-s-b may not cancel job theirs: n-s-a "
                                          "added it"):
            await w.jobs.cancel(other, CancelJobs(("theirs",)))
        await w.queue.pump()
        worker = await w.queue.get(job.id)
        own = _session(worker.session_id or "", str(w.cwd))
        (cancelled,) = await w.jobs.cancel(own, CancelJobs(("theirs",)))  # its own session
        assert cancelled.state == "cancelled"
        with pytest.raises(Refused):
            await w.jobs.retry(other, JobRef("theirs"))
        (again,) = await w.jobs.retry(mine, JobRef("theirs"))
        assert again.state == "queued"
        with pytest.raises(Conflict, match="is queued; requeue takes a running"):
            await w.jobs.requeue(OPERATOR, JobRef(job.id))

    run(tmp_path, test)


def test_done_is_for_the_sessions_own_job_or_the_operator_naming_one(tmp_path: Path) -> None:
    async def test(w: World) -> None:
        (job,) = await w.jobs.add(OPERATOR, AddJobs((NewJob("t", cwd=str(w.cwd)),)))
        idle = _session("nobody", str(w.cwd))
        with pytest.raises(NotFound, match="session n-nobody works on no job"):
            await w.jobs.done(idle, FinishJob("x"))
        with pytest.raises(InvalidInput, match="name the job"):
            await w.jobs.done(OPERATOR, FinishJob("x"))
        await w.queue.pump()
        sid = (await w.queue.get(job.id)).session_id or ""
        with pytest.raises(Refused, match="not other"):
            await w.jobs.done(_session(sid, str(w.cwd)), FinishJob("x", ref="other"))
        # the operator's done completes it now
        await w.jobs.done(OPERATOR, FinishJob("by hand", ref=job.id))
        await w.queue.pump()
        done = await w.queue.get(job.id)
        assert (done.state, done.result) == ("succeeded", "by hand")
        assert sid in w.agents.killed

    run(tmp_path, test)


def test_requeue_takes_a_running_job_back_without_counting_an_attempt(tmp_path: Path) -> None:
    async def test(w: World) -> None:
        (job,) = await w.jobs.add(OPERATOR, AddJobs((NewJob("t", cwd=str(w.cwd)),)))
        await w.queue.pump()
        first = (await w.queue.get(job.id)).session_id
        back = await w.jobs.requeue(OPERATOR, JobRef(job.id))
        assert back.state == "queued" and back.attempt == 0 and first in w.agents.killed
        await w.queue.pump()
        assert (await w.queue.get(job.id)).attempt == 1
        assert len(w.agents.by_job(job.id)) == 2

    run(tmp_path, test)


def test_template_statistics_and_project_caps(tmp_path: Path) -> None:
    async def test(w: World) -> None:
        await w.jobs.put_template(OPERATOR, PutTemplate("fix", "Be careful."))
        a, b = await w.jobs.add(OPERATOR, AddJobs((
            NewJob("a", template="fix", cwd=str(w.cwd)),
            NewJob("b", template="fix", cwd=str(w.cwd)))))
        await w.queue.pump()
        await w.agents.end_turn((await w.queue.get(a.id)).session_id or "")
        await w.agents.die((await w.queue.get(b.id)).session_id or "")
        await w.queue.pump()
        ((template, stats),) = await w.jobs.templates(OPERATOR)
        assert template.name == "fix"
        assert (stats.attempts, stats.succeeded, stats.success_rate, stats.mean_turns) == (
            2, 1, 0.5, 0.5)
        assert stats.cost is None
        with pytest.raises(Refused, match="project's caps is for the operator"):
            await w.jobs.set_project(_session("s", str(w.cwd)), SetProject("web", 1))
        assert (await w.jobs.set_project(OPERATOR, SetProject("web", 1))).max_concurrent == 1
        page = await w.jobs.list(OPERATOR, ListJobs(states=("succeeded",)))
        assert [j.id for j in page.items] == [a.id]
        with pytest.raises(InvalidInput, match="unknown job state 'done'"):
            await w.jobs.list(OPERATOR, ListJobs(states=("done",)))
        waited = await w.jobs.wait(OPERATOR, WaitJobs((a.id, b.id), timeout=0))
        assert waited.ended and [j.state for j in waited.jobs] == ["succeeded", "failed"]

    run(tmp_path, test)


def test_learnings_carry_the_job_and_only_their_author_edits_them(tmp_path: Path) -> None:
    async def test(w: World) -> None:
        (job,) = await w.jobs.add(OPERATOR, AddJobs((NewJob("t", project="sm",
                                                            cwd=str(w.cwd)),)))
        await w.queue.pump()
        worker = _session((await w.queue.get(job.id)).session_id or "", str(w.cwd))
        (added,) = await w.kb.learn(worker, Learn((Learning("Tip", "use small steps"),)))
        entry = added.entry
        assert (entry.job_id, entry.project, entry.agent) == (job.id, "sm", worker.label)
        with pytest.raises(Refused, match="may not edit entry"):
            await w.kb.edit(_session("x", str(w.cwd)), EditEntry(entry.id, title="Mine"))
        assert (await w.kb.edit(worker, EditEntry(entry.id, title="Tip 2"))).title == "Tip 2"
        await w.kb.remove(OPERATOR, EntryRef(entry.id))
        plain = await w.kb.add(OPERATOR, AddEntry("Global", "for all", scope="global"))
        assert plain.entry.project is None and plain.entry.job_id is None

    run(tmp_path, test)


def test_notes_record_the_writer(tmp_path: Path) -> None:
    async def test(w: World) -> None:
        await w.notes.write(_session("s1", str(w.cwd)), WriteNote("k", "v"))
        note = await w.notes.read(OPERATOR, ReadNote("k"))
        assert (note.written_by, note.writer) == ("s1", "n-s1")

    run(tmp_path, test)
