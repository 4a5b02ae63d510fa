"""Jobs, notes and the knowledge base, wired for the daemon: their core services, the
adapter that lets the job queue reach sessions, and their operations."""

from __future__ import annotations

from dataclasses import dataclass

from sm.config import Settings
from sm.core.events import EventBus
from sm.core.job_agents import Agents
from sm.core.job_checks import Checks
from sm.core.job_queue import JobQueue
from sm.core.jobs import RETRY, JobDefaults
from sm.core.kb import KnowledgeBase, MemoryLimits
from sm.core.notes import Notes
from sm.errors import InvalidInput
from sm.ops.authz import Authz
from sm.ops.jobs import JobsOps
from sm.ops.kb import KbOps
from sm.ops.notes import NotesOps
from sm.store import Store


@dataclass(frozen=True)
class Work:
    notes: NotesOps
    kb: KbOps
    jobs: JobsOps
    queue: JobQueue

    @classmethod
    def build(cls, settings: Settings, store: Store, bus: EventBus, agents: Agents,
              authz: Authz) -> Work:
        """Build the services (nothing runs yet: ``start`` does). Raises InvalidInput for
        a bad setting."""
        j = settings.jobs
        if j.retry not in RETRY:
            raise InvalidInput(f"config key jobs.retry: {j.retry!r} is not one of "
                               f"{', '.join(RETRY)}")
        notes = Notes(store, bus, max_value_bytes=settings.notes.max_value_bytes)
        kb = KnowledgeBase(store, bus, max_entry_bytes=settings.kb.max_entry_bytes,
                           memory=MemoryLimits(settings.kb.memory_entries,
                                               settings.kb.memory_bytes))
        limit = settings.limits.max_prompt_bytes
        defaults = JobDefaults(
            provider=j.provider, model=j.model, project=j.project, max_turns=j.max_turns,
            max_seconds=j.max_seconds, retry=j.retry, max_attempts=j.max_attempts,
            backoff=j.backoff, max_task_bytes=limit // 2)
        queue = JobQueue(
            store, bus, agents, checks=Checks(j.check_timeout),
            kb=kb if j.memory else None, defaults=defaults, max_concurrent=j.max_concurrent,
            project_max_concurrent=j.project_max_concurrent,
            analyze_seconds=j.analyze_seconds, max_prompt_bytes=limit)
        return cls(NotesOps(notes), KbOps(kb, queue, j.project), JobsOps(queue, authz), queue)

    async def start(self) -> None:
        """Start the queue: it first reconciles the jobs that were running when the last
        daemon stopped."""
        await self.queue.start()

    async def close(self) -> None:
        await self.queue.close()
