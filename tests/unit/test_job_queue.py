"""The job queue's decisions on a real store (SQLite under tmp_path) with fake agents:
dependency order, priorities and caps, cycles, cascades, retry policies, time limits,
recurring jobs, completion checks, and reconciling after a crash."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sm.core.events import EventBus
from sm.core.job_checks import Checks
from sm.core.job_queue import JobQueue
from sm.core.jobs import JobDefaults, NewJob
from sm.core.kb import Draft, KnowledgeBase, Origin
from sm.errors import Conflict, InvalidInput
from sm.store import Store
from tests.unit.fake_agents import FakeAgents


@dataclass
class Harness:
    q: JobQueue
    agents: FakeAgents
    store: Store
    kb: KnowledgeBase
    cwd: Path

    async def add(self, task: str = "do it", **kw: Any) -> str:
        kw.setdefault("cwd", str(self.cwd))
        (job,) = await self.q.add([NewJob(task=task, **kw)], None, "operator")
        return job.id

    async def state(self, job_id: str) -> str:
        return (await self.q.get(job_id)).state

    async def session(self, job_id: str) -> str:
        sid = (await self.q.get(job_id)).session_id
        assert sid is not None, f"job {job_id} has no session"
        return sid

    async def finish(self, job_id: str, message: str = "ok") -> None:
        await self.agents.end_turn(await self.session(job_id), message)
        await self.q.pump()

    async def running(self) -> list[str]:
        return [j.id for j in await self.store.jobs.active()]


@contextlib.asynccontextmanager
async def harness(tmp_path: Path, agents: FakeAgents | None = None, store: Store | None = None,
                  **kw: Any) -> AsyncIterator[Harness]:
    own = store is None
    store = store or await Store.open(tmp_path / "sm.db")
    bus = EventBus()
    agents = agents or FakeAgents()
    kb = KnowledgeBase(store, bus)
    defaults = JobDefaults(provider="scripted", backoff=kw.pop("backoff", 0.0),
                           max_attempts=kw.pop("max_attempts", 3))
    q = JobQueue(store, bus, agents, checks=Checks(timeout=10), kb=kb, defaults=defaults,
                 max_concurrent=kw.pop("max_concurrent", 4), **kw)
    await q.start(dispatch=False)
    try:
        yield Harness(q, agents, store, kb, tmp_path)
    finally:
        await q.close()
        if own:
            await store.close()


def run(tmp_path: Path, test: Callable[[Harness], Awaitable[None]], **kw: Any) -> None:
    async def main() -> None:
        async with harness(tmp_path, **kw) as h:
            await test(h)

    asyncio.run(main())


# -- order, priority, capacity --------------------------------------------------------------

def test_dag_runs_in_dependency_order_honouring_priority_and_the_cap(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        jobs = await h.q.add([
            NewJob("low", name="a", cwd=str(h.cwd)),
            NewJob("high", name="b", priority=5, cwd=str(h.cwd)),
            NewJob("join", name="c", depends_on=("a", "b"), priority=10, cwd=str(h.cwd)),
            NewJob("last", name="d", depends_on=("c",), cwd=str(h.cwd)),
        ], None, "operator")
        ids = {j.name: j.id for j in jobs}
        order = []
        for _ in range(4):
            await h.q.pump()
            running = await h.running()
            assert len(running) == 1  # max_concurrent=1
            order.append(next(n for n, i in ids.items() if i == running[0]))
            await h.finish(running[0])
        assert order == ["b", "a", "c", "d"]
        assert {await h.state(i) for i in ids.values()} == {"succeeded"}

    run(tmp_path, test, max_concurrent=1)


def test_project_cap_holds_a_project_back_while_others_run(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        await h.q.set_project("web", 1)
        web = [await h.add(f"web {i}", project="web", priority=5) for i in range(3)]
        api = [await h.add(f"api {i}", project="api") for i in range(3)]
        await h.q.pump()
        running = await h.running()
        assert len(running) == 4  # the global cap
        assert len([j for j in running if j in web]) == 1
        assert set(api) <= set(running)

    run(tmp_path, test)


def test_two_dispatch_passes_at_once_start_a_job_once(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        job = await h.add()
        now = time.time()
        await asyncio.gather(h.q.run_due(now), h.q.run_due(now), h.q.run_due(now))
        await h.q.runner.settle()
        assert len(h.agents.by_job(job)) == 1
        assert (await h.q.get(job)).attempt == 1

    run(tmp_path, test)


def test_a_job_never_starts_before_its_dependencies_succeeded(tmp_path: Path) -> None:
    """A dispatch pass may read the queue while a batch is half added (reads share the
    writers' connection, so it can see a job before its dependency edges): the start
    itself checks the dependencies, in its own transaction."""
    async def test(h: Harness) -> None:
        first, then = await h.q.add([
            NewJob("first", name="a", cwd=str(h.cwd)),
            NewJob("then", name="b", depends_on=("a",), cwd=str(h.cwd)),
        ], None, "operator")
        await h.q.runner.start(await h.q.get(then.id))
        await h.q.runner.settle()
        assert await h.state(then.id) == "queued" and not h.agents.by_job(then.id)
        await h.q.runner.start(await h.q.get(first.id))
        await h.q.runner.settle()
        assert await h.state(first.id) == "running"

    run(tmp_path, test)


# -- the graph ------------------------------------------------------------------------------

def test_a_cycle_is_refused_naming_it(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        with pytest.raises(InvalidInput, match="dependency cycle: ") as err:
            await h.q.add([NewJob("x", name="x", depends_on=("z",), cwd=str(h.cwd)),
                           NewJob("y", name="y", depends_on=("x",), cwd=str(h.cwd)),
                           NewJob("z", name="z", depends_on=("y",), cwd=str(h.cwd))],
                          None, "operator")
        cycle = err.value.message.split(": ", 1)[1].split(" → ")
        assert cycle[0] == cycle[-1] and sorted(cycle[:-1]) == ["x", "y", "z"]
        # each arrow points at a dependency
        deps = {"x": "z", "y": "x", "z": "y"}
        assert all(deps[a] == b for a, b in zip(cycle, cycle[1:], strict=False))
        with pytest.raises(InvalidInput, match="dependency cycle: me → me"):
            await h.q.add([NewJob("s", name="me", depends_on=("me",), cwd=str(h.cwd))],
                          None, "operator")
        assert await h.store.jobs.list() == []  # nothing of a refused batch is kept

    run(tmp_path, test)


def test_a_failure_cascades_to_every_dependent_and_retry_revives_them(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        a = await h.add("a", name="a")
        b = await h.add("b", depends_on=("a",))
        c = await h.add("c", depends_on=(b,))
        other = await h.add("other")
        await h.q.pump()
        await h.agents.die(await h.session(a))
        await h.q.pump()
        job_a = await h.q.get(a)
        assert job_a.state == "failed" and "exited (exit status 1)" in (job_a.reason or "")
        for dep in (b, c):
            job = await h.q.get(dep)
            assert job.state == "failed" and job.cause == a
            assert job.reason == f"dependency a failed: {job_a.reason}"
        assert await h.state(other) in ("running", "succeeded")
        revived = await h.q.retry(job_a)
        assert {j.id for j in revived} == {a, b, c}
        assert {await h.state(j) for j in (b, c)} == {"queued"}
        await h.q.pump()
        await h.finish(a)
        await h.finish(b)
        await h.finish(c)
        assert {await h.state(j) for j in (a, b, c)} == {"succeeded"}

    run(tmp_path, test)


def test_cancel_cascades_and_kills_the_session(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        a = await h.add("a", name="a")
        b = await h.add("b", depends_on=("a",))
        await h.q.pump()
        sid = await h.session(a)
        await h.q.cancel(await h.q.get(a), "operator")
        await h.q.pump()
        assert sid in h.agents.killed
        assert await h.state(a) == "cancelled"
        job_b = await h.q.get(b)
        assert job_b.state == "failed"
        assert job_b.reason == "dependency a was cancelled: cancelled by operator"
        with pytest.raises(Conflict, match="cancelled already"):
            await h.q.cancel(await h.q.get(a), "operator")

    run(tmp_path, test)


def test_a_job_added_after_its_dependency_failed_fails_at_once(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        a = await h.add("a", name="a")
        await h.q.pump()
        await h.agents.die(await h.session(a))
        await h.q.pump()
        late = await h.add("late", depends_on=("a",))
        await h.q.pump()
        job = await h.q.get(late)
        assert job.state == "failed" and job.reason.startswith("dependency a failed")
        assert h.agents.by_job(late) == []

    run(tmp_path, test)


# -- retries --------------------------------------------------------------------------------

def test_same_retries_up_to_its_attempts_with_backoff(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        job_id = await h.add(retry="same", max_attempts=2, backoff=100)
        await h.q.pump()
        await h.agents.die(await h.session(job_id))
        await h.q.pump()
        job = await h.q.get(job_id)
        assert job.state == "queued" and job.attempt == 1
        assert job.run_at is not None and job.run_at - time.time() > 90
        assert len(h.agents.by_job(job_id)) == 1  # the backoff holds it
        assert await h.q.next_due() == job.run_at
        await h.q.run_due(job.run_at + 0.01)
        await h.q.runner.settle()
        assert len(h.agents.by_job(job_id)) == 2
        second = await h.session(job_id)
        assert "Attempt 1 failed: its agent session" in h.agents.prompts(second)[0]
        await h.agents.die(second)
        await h.q.pump()
        job = await h.q.get(job_id)
        assert job.state == "failed" and job.attempt == 2  # attempts used up
        runs = await h.store.jobs.runs(job_id)
        assert [(r.attempt, r.outcome) for r in runs] == [(1, "failed"), (2, "failed")]

    run(tmp_path, test)


def test_same_retry_then_success(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        job_id = await h.add(retry="same", max_attempts=3)
        await h.q.pump()
        await h.agents.die(await h.session(job_id))
        await h.q.pump()
        await h.finish(job_id, "it worked")
        job = await h.q.get(job_id)
        assert (job.state, job.attempt, job.last_message) == ("succeeded", 2, "it worked")
        assert job.reason is None

    run(tmp_path, test)


def test_analyze_diagnoses_in_the_failed_session_and_the_retry_carries_it(
        tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        job_id = await h.add("make ok.txt", retry="analyze", checks=("command:test -f ok.txt",))
        await h.q.pump()
        first = await h.session(job_id)
        await h.agents.end_turn(first, "I think I am done")
        await h.q.pump()
        job = await h.q.get(job_id)
        assert job.state == "analyzing"
        assert "completion check command:test -f ok.txt failed" in (job.reason or "")
        analysis = h.agents.prompts(first)[-1]
        assert analysis.startswith("## Diagnose a failed job") and "I think I am done" in analysis
        await h.agents.end_turn(first, "It never created ok.txt: create it first.")
        await h.q.pump()
        assert first in h.agents.killed
        job = await h.q.get(job_id)
        assert job.diagnosis == "It never created ok.txt: create it first."
        second = await h.session(job_id)
        assert second != first
        prompt = h.agents.prompts(second)[0]
        assert "Diagnosis: It never created ok.txt: create it first." in prompt
        (h.cwd / "ok.txt").write_text("")
        await h.finish(job_id)
        assert await h.state(job_id) == "succeeded"

    run(tmp_path, test)


def test_analyze_after_a_dead_session_diagnoses_in_a_fresh_one(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        job_id = await h.add(retry="analyze")
        await h.q.pump()
        first = await h.session(job_id)
        await h.agents.die(first)
        await h.q.pump()
        job = await h.q.get(job_id)
        assert job.state == "analyzing" and job.session_id != first
        doctor = await h.session(job_id)
        assert h.agents.specs[doctor].worktree is False
        await h.q.done(await h.q.get(job_id), "the agent crashed: retry", by_agent=True)
        await h.agents.end_turn(doctor, "something else")
        await h.q.pump()
        assert (await h.q.get(job_id)).diagnosis == "the agent crashed: retry"

    run(tmp_path, test)


def test_a_job_knows_every_session_it_ran_in_a_fresh_diagnosis_too(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        job_id = await h.add(retry="analyze")
        assert await h.store.jobs.session_ids(job_id) == []  # not run yet
        await h.q.pump()
        first = await h.session(job_id)
        assert await h.store.jobs.session_ids(job_id) == [first]
        await h.agents.die(first)
        await h.q.pump()
        doctor = await h.session(job_id)  # no attempt of its own is recorded
        await h.agents.end_turn(doctor, "it crashed: retry")
        await h.q.pump()
        await h.q.pump()
        third = await h.session(job_id)
        assert len({first, doctor, third}) == 3
        await h.finish(job_id)
        assert await h.state(job_id) == "succeeded"
        assert [r.session_id for r in await h.store.jobs.runs(job_id)] == [first, third]
        assert await h.store.jobs.session_ids(job_id) == [first, doctor, third]

    run(tmp_path, test)


# -- time -----------------------------------------------------------------------------------

def test_wall_time_kills_and_fails_the_job(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        job_id = await h.add(max_seconds=30)
        await h.q.pump()
        sid = await h.session(job_id)
        started = (await h.q.get(job_id)).started_at
        assert await h.q.next_due() == started + 30
        await h.q.run_due(started + 31)
        await h.q.runner.settle()
        job = await h.q.get(job_id)
        assert job.state == "failed" and job.reason == "wall time 30s exceeded"
        assert sid in h.agents.killed

    run(tmp_path, test)


def test_a_recurring_job_is_queued_again_after_each_success(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        job_id = await h.add(every=60)
        await h.q.pump()
        since = time.time()
        await h.finish(job_id)
        job = await h.q.get(job_id)
        assert job.state == "queued" and job.runs == 1 and job.attempt == 0
        assert job.run_at is not None and 55 < job.run_at - time.time() <= 60
        jobs, ended, _ = await h.q.wait([job], 0, since)
        assert ended
        await h.q.run_due(job.run_at + 0.01)
        await h.q.runner.settle()
        assert len(h.agents.by_job(job_id)) == 2

    run(tmp_path, test)


def test_a_cron_job_waits_for_its_first_time(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        job_id = await h.add(cron="0 0 1 1 *")
        await h.q.pump()
        job = await h.q.get(job_id)
        assert job.state == "queued" and job.run_at is not None and job.run_at > time.time()
        assert h.agents.by_job(job_id) == []

    run(tmp_path, test)


# -- finishing ------------------------------------------------------------------------------

def test_done_records_the_result_and_the_turn_end_completes(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        job_id = await h.add()
        await h.q.pump()
        await h.q.done(await h.q.get(job_id), "42 files fixed", by_agent=True)
        assert await h.state(job_id) == "running"
        await h.finish(job_id, "all done")
        job = await h.q.get(job_id)
        assert (job.state, job.result, job.last_message, job.turns) == (
            "succeeded", "42 files fixed", "all done", 1)

    run(tmp_path, test)


def test_a_failing_check_with_turns_left_asks_the_agent_again(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        job_id = await h.add(checks=("no_error_in_output",), max_turns=2)
        await h.q.pump()
        sid = await h.session(job_id)
        await h.finish(job_id, "ValueError: nope")
        assert await h.state(job_id) == "running"
        follow = h.agents.prompts(sid)[-1]
        assert "`no_error_in_output` failed" in follow and "ValueError: nope" in follow
        await h.finish(job_id, "ValueError: still")
        job = await h.q.get(job_id)
        assert job.state == "failed" and job.turns == 2
        assert "the output shows an error: ValueError: still" in (job.reason or "")

    run(tmp_path, test)


def test_diff_not_empty_passes_only_with_changes(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "init"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env)

    async def test(h: Harness) -> None:
        lazy = await h.add(checks=("diff_not_empty",), cwd=str(repo))
        await h.q.pump()
        await h.finish(lazy)
        job = await h.q.get(lazy)
        assert job.state == "failed" and "the diff is empty" in (job.reason or "")
        busy = await h.add(checks=("diff_not_empty",), cwd=str(repo))
        await h.q.pump()
        (repo / "new.txt").write_text("x")
        await h.finish(busy)
        assert await h.state(busy) == "succeeded"

    run(tmp_path, test)


def test_an_agent_that_cannot_start_fails_the_job(tmp_path: Path) -> None:
    agents = FakeAgents()
    agents.fail_spawn = "scripted: binary missing"

    async def test(h: Harness) -> None:
        job_id = await h.add()
        await h.q.pump()
        job = await h.q.get(job_id)
        assert job.state == "failed"
        assert job.reason == "its agent could not start: scripted: binary missing"

    run(tmp_path, test, agents=agents)


def test_a_worktree_job_opens_its_pr_on_success_and_pushes_on_failure(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        good = await h.add("good", worktree=True)
        bad = await h.add("bad", worktree=True)
        await h.q.pump()
        good_sid, bad_sid = await h.session(good), await h.session(bad)
        assert h.agents.specs[good_sid].worktree
        await h.finish(good)
        await h.agents.die(bad_sid)
        await h.q.pump()
        assert (await h.q.get(good)).pr_url == f"https://example.invalid/pr/{good_sid}"
        assert (good_sid, True) in h.agents.published
        assert (bad_sid, False) in h.agents.published

    run(tmp_path, test)


# -- prompts --------------------------------------------------------------------------------

def test_the_prompt_has_guidelines_memory_task_and_context(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        await h.q.put_template("fixer", "Fix {area} carefully. Keep {unknown} as is.")
        await h.kb.add(Draft("Flaky sockets", "The socket tests need SM_HOME short.",
                             scope="project", project="default"), Origin("operator"))
        job_id = await h.add("Fix the flaky socket tests", template="fixer", title="Sockets",
                             context={"area": "networking"})
        await h.q.pump()
        prompt = h.agents.prompts(await h.session(job_id))[0]
        sections = [line for line in prompt.splitlines() if line.startswith("## ")]
        assert sections == ["## Guidelines", "## Memory", "## Task", "## Context",
                            "## When you are done"]
        assert "Fix networking carefully. Keep {unknown} as is." in prompt
        assert "- **Flaky sockets**: The socket tests need SM_HOME short." in prompt
        assert "- area: networking" in prompt

    run(tmp_path, test)


# -- after a crash --------------------------------------------------------------------------

def test_reconcile_keeps_live_sessions_retries_dead_ones_and_requeues_unstarted(
        tmp_path: Path) -> None:
    async def main() -> None:
        agents = FakeAgents()
        store = await Store.open(tmp_path / "sm.db")
        try:
            async with harness(tmp_path, agents=agents, store=store) as h:
                alive = await h.add("alive")
                settled = await h.add("settled")
                dead = await h.add("dead", retry="same")
                await h.q.pump()
                ghost = await h.add("ghost")
                # the daemon "dies" right after writing ghost's start, before its session
                async with store.write() as conn:
                    await store.jobs.transition(conn, ghost, ("queued",), time.time(),
                                                state="running", attempt=1, starts=1,
                                                session_name=f"job-{ghost}-1")
                alive_sid = await h.session(alive)
            # while no daemon ran: one agent finished its turn, one died
            agents._sinks.clear()
            await agents.end_turn(await _sid(store, settled), "finished meanwhile")
            await agents.die(await _sid(store, dead))
            async with harness(tmp_path, agents=agents, store=store) as h:
                await h.q.runner.settle()
                assert (await h.q.get(alive)).state == "running"
                assert await h.session(alive) == alive_sid
                job = await h.q.get(settled)
                assert (job.state, job.last_message) == ("succeeded", "finished meanwhile")
                job = await h.q.get(dead)
                assert job.state == "queued" and job.attempt == 1
                assert job.reason == f"its agent session job-{dead}-1 exited while sm was down"
                job = await h.q.get(ghost)
                assert job.state == "queued" and job.attempt == 0
                await h.q.pump()
                assert len(agents.by_job(alive)) == 1  # never twice at once
                assert len(agents.by_job(ghost)) == 1
        finally:
            await store.close()

    asyncio.run(main())


async def _sid(store: Store, job_id: str) -> str:
    job = await store.jobs.get(job_id)
    assert job is not None and job.session_id is not None
    return job.session_id
