"""The operations layer: every user-visible operation, written once.

Each operation is an async method taking a ``Caller`` (the operator, or a session whose
identity the daemon proved) and plain arguments, returning typed records, and raising
the one error tree. Every rule that decides *whether* (``authz.py``) and *how* lives
here or in the core it composes. The adapters — HTTP routes, the Telegram bridge, the
web dashboard, MCP tools — translate their input into one call and its result into
their output; nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from sm.ops.asks import AskOps
from sm.ops.authz import Authz
from sm.ops.budgets import BudgetOps
from sm.ops.coordination import CoordinationOps
from sm.ops.events import EventOps
from sm.ops.git import GitOps
from sm.ops.hooks import HookOps
from sm.ops.inbox import InboxOps
from sm.ops.jobs import JobsOps
from sm.ops.kb import KbOps
from sm.ops.locks import LockOps
from sm.ops.messages import MessageOps
from sm.ops.notes import NotesOps
from sm.ops.sessions import SessionOps
from sm.ops.usage import UsageOps


@dataclass(frozen=True)
class Ops:
    authz: Authz
    sessions: SessionOps
    messages: MessageOps
    coordination: CoordinationOps
    events: EventOps
    locks: LockOps
    git: GitOps
    hooks: HookOps
    asks: AskOps
    usage: UsageOps
    budgets: BudgetOps
    inbox: InboxOps
    notes: NotesOps
    kb: KbOps
    jobs: JobsOps


__all__ = ["Ops"]
