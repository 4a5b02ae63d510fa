"""A fake ``Agents`` for the job queue's unit tests: sessions are dicts; a test ends a
turn or kills an agent by hand. (A fake, because the queue's decisions are pure logic
over these facts; the real sessions are exercised in tests/integration/test_jobs.py.)"""

from __future__ import annotations

import dataclasses
from typing import Any

from sm.core.job_agents import AgentFact, AgentInfo, AgentSpec, FactSink, Published
from sm.errors import Unavailable


class FakeAgents:
    def __init__(self) -> None:
        self.infos: dict[str, AgentInfo] = {}
        self.specs: dict[str, AgentSpec] = {}
        self.sent: list[tuple[str, str]] = []
        self.killed: list[str] = []
        self.published: list[tuple[str, bool]] = []
        self.fail_spawn = ""  # a message: spawn raises Unavailable with it
        self._sinks: list[FactSink] = []
        self._n = 0

    # -- Agents --------------------------------------------------------------------------
    def subscribe(self, sink: FactSink) -> None:
        self._sinks.append(sink)

    async def spawn(self, spec: AgentSpec) -> AgentInfo:
        if self.fail_spawn:
            raise Unavailable(self.fail_spawn)
        self._n += 1
        sid = f"s{self._n}"
        self.infos[sid] = AgentInfo(id=sid, name=spec.name, cwd=spec.cwd, live=True,
                                    state="idle", last_message=None, prompted=False,
                                    settled=False)
        self.specs[sid] = spec
        return self.infos[sid]

    async def send(self, session_id: str, text: str) -> None:
        self.sent.append((session_id, text))
        self._set(session_id, prompted=True, settled=False, state="running")

    async def kill(self, session_id: str) -> None:
        info = self.infos.get(session_id)
        if info is not None and info.live:
            self.killed.append(session_id)
            self._set(session_id, live=False, state="stopped", settled=False)
            await self._emit(AgentFact(session_id, "exit", "stopped"))

    async def get(self, session_id: str) -> AgentInfo | None:
        return self.infos.get(session_id)

    async def find(self, name: str) -> AgentInfo | None:
        found = [i for i in self.infos.values() if i.name == name]
        return found[-1] if found else None

    async def publish(self, session_id: str, title: str, body: str, open_pr: bool
                      ) -> Published:
        self.published.append((session_id, open_pr))
        url = f"https://example.invalid/pr/{session_id}" if open_pr else None
        return Published(f"sm/{session_id}", url, None)

    # -- what a test makes the agents do --------------------------------------------------
    async def end_turn(self, session_id: str, last_message: str = "ok") -> None:
        self._set(session_id, last_message=last_message, settled=True, state="idle")
        await self._emit(AgentFact(session_id, "turn_end"))

    async def die(self, session_id: str, detail: str = "exited (exit status 1)") -> None:
        self._set(session_id, live=False, state="exited", settled=False)
        await self._emit(AgentFact(session_id, "exit", detail))

    def by_job(self, job_id: str) -> list[str]:
        """The sessions spawned for a job, oldest first."""
        return [sid for sid, spec in self.specs.items() if spec.job_id == job_id]

    def prompts(self, session_id: str) -> list[str]:
        return [text for sid, text in self.sent if sid == session_id]

    def _set(self, session_id: str, **changes: Any) -> None:
        self.infos[session_id] = dataclasses.replace(self.infos[session_id], **changes)

    async def _emit(self, fact: AgentFact) -> None:
        for sink in self._sinks:
            await sink(fact)
