"""Budget operations: set, remove and list the limits on what sessions spend.

Anyone may list budgets (they tell amounts, never content, like ``sm usage``). The
operator sets and removes every budget; a session's ancestors may also set or remove
that session's own budget — never the session itself, nor a project's or the day's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sm.core import refs
from sm.core.budgets import SCOPES, Budgets, Standing, parse_amount
from sm.core.caller import Caller
from sm.errors import InvalidInput, Refused
from sm.ops.authz import Authz
from sm.store import Store


@dataclass(frozen=True)
class BudgetRef:
    scope: str  # session | project | day
    target: str = ""  # a session reference, or a project's absolute directory


@dataclass(frozen=True)
class SetBudget:
    ref: BudgetRef
    amount: str  # "$1.50" or micro-dollars


@dataclass(frozen=True)
class BudgetReport:
    items: list[Standing]
    action: str  # budgets.action
    warn_at: float


class BudgetOps:
    def __init__(self, store: Store, budgets: Budgets, authz: Authz) -> None:
        self.store = store
        self.budgets = budgets
        self.authz = authz

    async def set(self, caller: Caller, req: SetBudget) -> Standing:
        """Set, raise or lower a budget; reaching it (now or later) acts at once, and
        raising it past what was spent resumes held deliveries. Raises InvalidInput,
        NotFound (the session), Refused."""
        limit = parse_amount(req.amount)
        scope, key = await self._key(caller, req.ref, "set")
        return await self.budgets.set(scope, key, limit)

    async def remove(self, caller: Caller, ref: BudgetRef) -> Standing | None:
        """Remove a budget that was set (its config default, if any, is in force
        again: the standing under it is returned). Raises NotFound, Refused."""
        scope, key = await self._key(caller, ref, "remove")
        return await self.budgets.remove(scope, key)

    async def list(self, caller: Caller) -> BudgetReport:
        """Every budget in force with what was spent against it."""
        return BudgetReport(await self.budgets.standings(), self.budgets.action,
                            self.budgets.warn_at)

    async def _key(self, caller: Caller, ref: BudgetRef, verb: str) -> tuple[str, str]:
        if ref.scope not in SCOPES:
            raise InvalidInput(f"budget scope {ref.scope!r}: expected one of "
                               f"{', '.join(SCOPES)}")
        if ref.scope == "day":
            await self.authz.check_operator(caller, f"{verb} the day's budget")
            return "day", ""
        if ref.scope == "project":
            await self.authz.check_operator(caller, f"{verb} a project's budget")
            path = ref.target
            if not path or not os.path.isabs(path) or "\x00" in path:
                raise InvalidInput(f"project {path[:200]!r}: expected an absolute directory")
            return "project", os.path.realpath(path)
        rec = await refs.session(self.store, ref.target)
        if not caller.is_operator and not await self.authz.is_ancestor(caller, rec):
            raise Refused(f"session {caller.label} may not {verb} {rec.label}'s budget: "
                          "only the operator or its ancestors may")
        return "session", rec.id
