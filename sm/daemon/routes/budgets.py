"""Budgets: limits on what sessions spend, per session, project and day."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from sm.api.models import BudgetList, BudgetRemoved, BudgetStanding
from sm.daemon.deps import CallerDep, OpsDep
from sm.ops.budgets import BudgetRef, SetBudget

router = APIRouter(tags=["budgets"])


class BudgetRefBody(BaseModel):
    scope: str  # session | project | day
    target: str = ""  # a session reference, or a project's absolute directory


class SetBudgetBody(BudgetRefBody):
    amount: str | int  # "$1.50" or micro-dollars


@router.get("/budgets", response_model=BudgetList)
async def list_budgets(ops: OpsDep, caller: CallerDep) -> BudgetList:
    """Every budget in force with what was spent against it."""
    found = await ops.budgets.list(caller)
    return BudgetList(items=[BudgetStanding.of(s) for s in found.items],
                      action=found.action, warn_at=found.warn_at)


@router.post("/budgets", response_model=BudgetStanding)
async def set_budget(body: SetBudgetBody, ops: OpsDep, caller: CallerDep) -> BudgetStanding:
    """Set, raise or lower a budget (re-evaluated at once)."""
    standing = await ops.budgets.set(caller, SetBudget(
        BudgetRef(body.scope, body.target), str(body.amount)))
    return BudgetStanding.of(standing)


@router.post("/budgets/remove", response_model=BudgetRemoved)
async def remove_budget(body: BudgetRefBody, ops: OpsDep, caller: CallerDep) -> BudgetRemoved:
    """Remove a budget that was set (its config default, if any, is in force again)."""
    standing = await ops.budgets.remove(caller, BudgetRef(body.scope, body.target))
    return BudgetRemoved(removed=True,
                         default=None if standing is None else BudgetStanding.of(standing))
