"""Job rules, with no I/O: what a valid job is, the dependency graph, schedules, retry
decisions, who may start next under the concurrency caps, and the prompt an agent gets.

The queue (``core/job_queue.py``) applies these to rows in the store.
"""

from __future__ import annotations

import graphlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

from sm.errors import InvalidInput
from sm.store.job_templates import TemplateRecord
from sm.store.jobs import JobRecord

RETRY = ("none", "same", "analyze")
CHECKS = ("diff_not_empty", "no_error_in_output", "command:")
MIN_PRIORITY, MAX_PRIORITY = -10, 10
MIN_EVERY = 1.0
MAX_BACKOFF = 3600.0
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")
_CONTEXT_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class NewJob:
    """A job as it is asked for; None means "the template's or the config's default"."""

    task: str
    title: str | None = None
    name: str | None = None  # unique among jobs that have not ended; dependencies may use it
    template: str | None = None
    context: Mapping[str, str] = field(default_factory=dict)
    project: str | None = None
    provider: str | None = None
    model: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    cwd: str | None = None
    worktree: bool = False
    priority: int = 0
    depends_on: tuple[str, ...] = ()  # job ids or names (also of jobs in the same batch)
    run_at: float | None = None
    cron: str | None = None
    every: float | None = None
    max_turns: int | None = None
    max_seconds: float | None = None
    checks: tuple[str, ...] = ()
    retry: str | None = None
    max_attempts: int | None = None
    backoff: float | None = None


@dataclass(frozen=True)
class JobDefaults:
    """What a job gets when neither it nor its template says (``jobs.*`` settings)."""

    provider: str = "claude"
    model: str = ""
    project: str = "default"
    max_turns: int = 1
    max_seconds: float = 0.0  # 0: no wall-time limit
    retry: str = "none"
    max_attempts: int = 3
    backoff: float = 30.0
    max_task_bytes: int = 131072


def check_name(name: str, what: str = "job name") -> str:
    if not _NAME.fullmatch(name):
        raise InvalidInput(f"invalid {what} {name!r}: use 1-64 characters from A-Z a-z 0-9 "
                           "_ . - starting with a letter, digit or _")
    return name


def check_check(check: str) -> str:
    """A completion check: ``diff_not_empty``, ``no_error_in_output`` or
    ``command:<shell command>``."""
    if check in CHECKS[:2] or (check.startswith("command:") and check[8:].strip()):
        return check
    raise InvalidInput(f"unknown completion check {check!r}; expected diff_not_empty, "
                       "no_error_in_output or command:<shell command>")


def check_new(job: NewJob, defaults: JobDefaults) -> None:
    """Raise InvalidInput naming the first thing wrong with ``job``."""
    if not job.task.strip():
        raise InvalidInput("the job has no task text")
    size = len(job.task.encode("utf-8", "surrogatepass"))
    if size > defaults.max_task_bytes:
        raise InvalidInput(f"task is {size} bytes; the limit is {defaults.max_task_bytes}")
    if job.name is not None:
        check_name(job.name)
    if job.project is not None:
        check_name(job.project, "project name")
    if job.template is not None:
        check_name(job.template, "template name")
    if not MIN_PRIORITY <= job.priority <= MAX_PRIORITY:
        raise InvalidInput(f"priority {job.priority} is out of range; expected "
                           f"{MIN_PRIORITY}…{MAX_PRIORITY}")
    if job.retry is not None and job.retry not in RETRY:
        raise InvalidInput(f"unknown retry policy {job.retry!r}; expected none, same or analyze")
    for key, value in job.context.items():
        if not _CONTEXT_KEY.fullmatch(key) or not isinstance(value, str):
            raise InvalidInput(f"invalid context {key}={value!r}: keys are identifiers, "
                               "values text")
    for check in job.checks:
        check_check(check)
    if job.cron and job.every:
        raise InvalidInput("give a cron expression or an interval (every), not both")
    if job.cron:
        check_cron(job.cron)
    if job.every is not None and job.every < MIN_EVERY:
        raise InvalidInput(f"every {job.every:g}s is too often; the minimum is {MIN_EVERY:g}s")
    if job.max_turns is not None and job.max_turns < 1:
        raise InvalidInput(f"max turns {job.max_turns}: expected 1 or more")
    if job.max_seconds is not None and job.max_seconds <= 0:
        raise InvalidInput(f"max time {job.max_seconds:g}s: expected more than 0")
    if job.max_attempts is not None and not 1 <= job.max_attempts <= 100:
        raise InvalidInput(f"attempts {job.max_attempts}: expected 1…100")
    if job.backoff is not None and not 0 <= job.backoff <= MAX_BACKOFF:
        raise InvalidInput(f"backoff {job.backoff:g}s: expected 0…{MAX_BACKOFF:g}")


# -- the graph --------------------------------------------------------------------------
def check_acyclic(edges: Mapping[str, Iterable[str]], labels: Mapping[str, str]) -> None:
    """Raise InvalidInput naming the cycle when ``edges`` (job → its dependencies)
    has one: ``dependency cycle: a → b → a``."""
    sorter = graphlib.TopologicalSorter(edges)
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = list(exc.args[1])[::-1]  # graphlib lists it against the edges
        names = " → ".join(labels.get(node, node) for node in cycle)
        raise InvalidInput(f"dependency cycle: {names}") from None


# -- time -------------------------------------------------------------------------------
def check_cron(expression: str) -> str:
    from croniter import croniter

    if not croniter.is_valid(expression):
        raise InvalidInput(f"invalid cron expression {expression!r}; expected five fields "
                           "like '*/15 * * * *'")
    return expression


def next_run(cron: str | None, every: float | None, after: float) -> float | None:
    """When a recurring job runs next after ``after`` (cron in local time); None for a
    job that does not recur."""
    if every:
        return after + every
    if cron:
        from croniter import croniter

        start = datetime.fromtimestamp(after).astimezone()
        following: float = croniter(cron, start).get_next(float)
        return float(following)
    return None


def retry_delay(backoff: float, attempt: int) -> float:
    """Seconds before the attempt after failed attempt ``attempt`` (1-based): doubling
    from ``backoff``, at most ``MAX_BACKOFF``."""
    return min(MAX_BACKOFF, backoff * 2.0 ** max(0, attempt - 1))


def after_failure(job: JobRecord) -> Literal["fail", "retry", "analyze"]:
    """What a failed attempt leads to under the job's retry policy."""
    if job.retry == "none" or job.attempt >= job.max_attempts:
        return "fail"
    return "analyze" if job.retry == "analyze" else "retry"


# -- capacity ---------------------------------------------------------------------------
class _InProject(Protocol):
    @property
    def project(self) -> str: ...


J = TypeVar("J", bound=_InProject)


def pick(
    ready: Sequence[J],
    active: Mapping[str, int],
    max_total: int,
    caps: Mapping[str, int],
) -> list[J]:
    """The jobs to start now, from ``ready`` (best first): each while fewer than
    ``max_total`` agents work on jobs and fewer than its project's cap (0: none) work
    on that project's. ``active`` counts the agents per project."""
    counts = dict(active)
    total = sum(counts.values())
    chosen = []
    for job in ready:
        if max_total and total >= max_total:
            break
        cap = caps.get(job.project, 0)
        if cap and counts.get(job.project, 0) >= cap:
            continue
        chosen.append(job)
        counts[job.project] = counts.get(job.project, 0) + 1
        total += 1
    return chosen


# -- prompts ----------------------------------------------------------------------------
def fill(text: str, values: Mapping[str, str]) -> str:
    """``{key}`` → its value; unknown placeholders and other braces stay as written."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def prompt(job: JobRecord, template: TemplateRecord | None, memory: str) -> str:
    """What the agent is sent: Guidelines (the template), Memory, the Task, its
    Context, the previous attempt's failure and diagnosis, and how to finish."""
    values = {"job": job.id, "title": job.title or "", "project": job.project, **job.context}
    # the delivery header shares the first line: the sections start on their own
    parts = [f"Job {job.label} (project {job.project}, attempt {job.attempt}).\n"]
    if template is not None and template.guidelines.strip():
        parts.append(f"## Guidelines\n{fill(template.guidelines.strip(), values)}\n")
    if memory:
        parts.append(memory)
    task = f"**{job.title}**\n\n{job.task.strip()}" if job.title else job.task.strip()
    parts.append(f"## Task\n{task}\n")
    if job.context:
        parts.append("## Context\n" + "".join(f"- {k}: {v}\n" for k, v in job.context.items()))
    if job.attempt > 1 and job.reason:
        previous = f"Attempt {job.attempt - 1} failed: {job.reason}\n"
        if job.diagnosis:
            previous += f"Diagnosis: {job.diagnosis}\n"
        parts.append(f"## Previous attempt\n{previous}")
    parts.append(
        "## When you are done\n"
        f"Run `sm job done \"RESULT\"` with a one-line result (job {job.id}). Report what "
        "later jobs should know with `sm kb learn \"TITLE: LEARNING\"` (at most 5).\n"
    )
    return "\n".join(parts)


def analysis_prompt(job: JobRecord, reason: str, last_message: str | None) -> str:
    """The short turn that diagnoses a failed attempt before its retry."""
    last = (last_message or "").strip()
    if len(last) > 2000:
        last = "…" + last[-2000:]
    return (
        f"## Diagnose a failed job\nJob {job.label} (attempt {job.attempt} of "
        f"{job.max_attempts}) failed: {reason}\n\n## Its task\n{job.task.strip()}\n\n"
        + (f"## Its last message\n{last}\n\n" if last else "")
        + "In a few sentences, say why it failed and what the next attempt should do "
        "differently. Change nothing now. Answer with `sm job done \"DIAGNOSIS\"` or as "
        "your last message.\n"
    )


def follow_up(check: str, output: str) -> str:
    """Sent to the agent when a completion check fails and it has turns left."""
    return (f"[sm job] The completion check `{check}` failed:\n{output.strip()}\n"
            "Keep working on the task; run `sm job done \"RESULT\"` when it is finished.")
