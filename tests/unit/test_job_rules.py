"""Job rules with no I/O: validation, capacity, schedules, backoff, retry decisions,
prompts."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from sm.core import jobs as rules
from sm.core.jobs import JobDefaults, NewJob
from sm.errors import InvalidInput
from sm.store.jobs import JobRecord
from sm.store.jobs import Ready as R


def _job(**kw: object) -> JobRecord:
    base = dict(id="j1", name=None, title=None, task="t", template=None, context={},
                project="p", provider="scripted", model=None, options={}, cwd="/", worktree=False,
                priority=0, state="queued", run_at=None, cron=None, every=None, max_turns=1,
                max_seconds=None, checks=[], retry="none", max_attempts=3, backoff=1.0,
                created_by=None, creator="operator", created_at=0.0, updated_at=0.0)
    base.update(kw)
    return JobRecord(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("job", "message"), [
    (NewJob(" "), "no task text"),
    (NewJob("t", priority=11), "priority 11 is out of range; expected -10…10"),
    (NewJob("t", retry="twice"), "unknown retry policy 'twice'"),
    (NewJob("t", checks=("tests_pass",)), "unknown completion check 'tests_pass'"),
    (NewJob("t", checks=("command:  ",)), "unknown completion check"),
    (NewJob("t", cron="every day"), "invalid cron expression 'every day'"),
    (NewJob("t", cron="* * * * *", every=60), "not both"),
    (NewJob("t", every=0.5), "too often"),
    (NewJob("t", name="has space"), "invalid job name 'has space'"),
    (NewJob("t", context={"1x": "v"}), "invalid context 1x='v'"),
    (NewJob("t", max_turns=0), "max turns 0"),
    (NewJob("x" * 200), "task is 200 bytes; the limit is 100"),
])
def test_bad_jobs_are_refused_naming_the_problem(job: NewJob, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(")):
        rules.check_new(job, JobDefaults(max_task_bytes=100))


def test_pick_honours_priority_order_the_global_cap_and_project_caps() -> None:
    ready = [R("a", "web"), R("b", "web"), R("c", "api"), R("d", "web"), R("e", "api")]
    assert [j.id for j in rules.pick(ready, {}, 3, {})] == ["a", "b", "c"]
    assert [j.id for j in rules.pick(ready, {}, 10, {"web": 1})] == ["a", "c", "e"]
    assert [j.id for j in rules.pick(ready, {"web": 1}, 10, {"web": 1})] == ["c", "e"]
    assert [j.id for j in rules.pick(ready, {"api": 2}, 3, {})] == ["a"]
    assert [j.id for j in rules.pick(ready, {}, 0, {})] == ["a", "b", "c", "d", "e"]


def test_schedules_and_backoff() -> None:
    at = datetime(2026, 3, 1, 10, 7, 30).timestamp()
    assert rules.next_run(None, 90.0, at) == at + 90
    assert rules.next_run("*/15 * * * *", None, at) == datetime(2026, 3, 1, 10, 15).timestamp()
    assert rules.next_run(None, None, at) is None
    assert [rules.retry_delay(10, n) for n in (1, 2, 3)] == [10, 20, 40]
    assert rules.retry_delay(1000, 5) == rules.MAX_BACKOFF


def test_the_retry_policy_decides() -> None:
    assert rules.after_failure(_job(retry="none", attempt=1)) == "fail"
    assert rules.after_failure(_job(retry="same", attempt=2, max_attempts=3)) == "retry"
    assert rules.after_failure(_job(retry="same", attempt=3, max_attempts=3)) == "fail"
    assert rules.after_failure(_job(retry="analyze", attempt=1)) == "analyze"


def test_fill_leaves_unknown_placeholders_and_other_braces() -> None:
    assert rules.fill("fix {area} in ${HOME} {x} {}", {"area": "io"}) == \
        "fix io in ${HOME} {x} {}"


def test_a_retry_prompt_carries_the_failure_and_the_diagnosis() -> None:
    job = _job(attempt=2, reason="check failed", diagnosis="create ok.txt", title="T")
    text = rules.prompt(job, None, "")
    assert "## Previous attempt\nAttempt 1 failed: check failed\nDiagnosis: create ok.txt" \
        in text
    assert "**T**" in text
    first = rules.prompt(dataclasses.replace(job, attempt=1), None, "")
    assert "## Previous attempt" not in first
