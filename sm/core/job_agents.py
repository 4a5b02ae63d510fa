"""What the job queue needs from agent sessions, as a protocol.

The queue decides; an ``Agents`` implementation acts: it starts a session, types into
it, kills it, reads its state, publishes its branch, and reports turn ends and exits as
``AgentFact`` values. ``core/job_sessions.py`` implements it over sm's sessions and
delivery; unit tests use a fake.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class AgentSpec:
    name: str  # the session name, job-<job id>-<n>: unique, so a restart can find it
    provider: str
    cwd: str
    job_id: str
    options: Mapping[str, Any] = field(default_factory=dict)
    worktree: bool = False  # start in a new worktree (branch <prefix><name>) of ``cwd``


@dataclass(frozen=True)
class AgentInfo:
    id: str
    name: str | None
    cwd: str
    live: bool
    state: str
    last_message: str | None
    prompted: bool  # something was ever queued for it
    settled: bool  # idle, everything sent to it delivered and its turn over
    exit_status: int | None = None


@dataclass(frozen=True)
class AgentFact:
    """``turn_end``: the agent's turn ended (its Stop); ``exit``: the session died."""

    session_id: str
    kind: Literal["turn_end", "exit"]
    detail: str = ""


@dataclass(frozen=True)
class Published:
    branch: str | None
    pr_url: str | None
    note: str | None  # why no PR was opened, or what failed


FactSink = Callable[[AgentFact], Awaitable[None]]


class Agents(Protocol):
    def subscribe(self, sink: FactSink) -> None:
        """Call ``sink`` with every turn end and exit of any session, after commit.
        ``sink`` must return quickly (the agent's hook waits for it)."""
        ...

    async def spawn(self, spec: AgentSpec) -> AgentInfo:
        """Start the session (no prompt yet). Raises SmError when it cannot start."""
        ...

    async def send(self, session_id: str, text: str) -> None:
        """Queue ``text`` for the session (delivered at its next turn boundary)."""
        ...

    async def kill(self, session_id: str) -> None:
        """Stop the session; a dead or unknown one is left as it is."""
        ...

    async def get(self, session_id: str) -> AgentInfo | None: ...

    async def find(self, name: str) -> AgentInfo | None:
        """The session with this name (the newest), or None."""
        ...

    async def publish(self, session_id: str, title: str, body: str, open_pr: bool
                      ) -> Published:
        """Push the session's branch and (``open_pr``) open or reuse its pull request.
        Never raises: a failure is the answer's ``note``."""
        ...
