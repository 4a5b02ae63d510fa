"""Jobs, notes and the knowledge base, wired into the daemon: their core services, the
adapter that lets the job queue reach sessions, and the operations routes call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sm.core.job_checks import Checks
from sm.core.job_queue import JobQueue
from sm.core.job_sessions import SessionAgents
from sm.core.jobs import RETRY, JobDefaults
from sm.core.kb import KnowledgeBase, MemoryLimits
from sm.core.notes import Notes
from sm.errors import InvalidInput
from sm.ops.jobs import JobsOps
from sm.ops.kb import KbOps
from sm.ops.notes import NotesOps

if TYPE_CHECKING:
    from sm.daemon.services import Services


@dataclass
class Work:
    notes: NotesOps
    kb: KbOps
    jobs: JobsOps
    queue: JobQueue

    @classmethod
    async def open(cls, svc: Services) -> Work:
        """Build the services and start the queue (it reconciles the jobs that were
        running when the last daemon stopped). Raises InvalidInput for a bad setting."""
        s = svc.settings
        j = s.jobs
        if j.retry not in RETRY:
            raise InvalidInput(f"config key jobs.retry: {j.retry!r} is not one of "
                               f"{', '.join(RETRY)}")
        notes = Notes(svc.store, svc.bus, max_value_bytes=s.notes.max_value_bytes)
        kb = KnowledgeBase(svc.store, svc.bus, max_entry_bytes=s.kb.max_entry_bytes,
                           memory=MemoryLimits(s.kb.memory_entries, s.kb.memory_bytes))
        agents = SessionAgents(svc.store, svc.bus, svc.sessions, svc.delivery, svc.prs)
        defaults = JobDefaults(
            provider=j.provider, model=j.model, project=j.project, max_turns=j.max_turns,
            max_seconds=j.max_seconds, retry=j.retry, max_attempts=j.max_attempts,
            backoff=j.backoff, max_task_bytes=s.limits.max_prompt_bytes // 2)
        queue = JobQueue(
            svc.store, svc.bus, agents, checks=Checks(j.check_timeout),
            kb=kb if j.memory else None, defaults=defaults, max_concurrent=j.max_concurrent,
            project_max_concurrent=j.project_max_concurrent,
            analyze_seconds=j.analyze_seconds, max_prompt_bytes=s.limits.max_prompt_bytes)
        await queue.start()
        return cls(NotesOps(notes), KbOps(kb, queue, j.project), JobsOps(queue), queue)

    async def close(self) -> None:
        await self.queue.close()
