"""Budgets: limits on what sessions spend, in integer micro-dollars, and what reaching
them does.

A session is covered by up to three budgets: its own (else ``budgets.session``), its
project's (the directory it works in, which its usage rows carry) and the day's (all
sessions together per UTC day; else ``budgets.day``). They are checked where usage is
recorded, in the same transaction as the usage insert (``check``, a usage check of the
``Meter``): at ``budgets.warn_at`` of a budget the session's parent gets a notice from
sm and a ``budget`` event is written (level ``warn``); at 100 % the same with level
``exceeded``, and with ``budgets.action: interrupt`` the event says ``stop``: the
delivery workers interrupt the covered sessions' running turns (the agent's own
interrupt key), and ``paused`` holds every further message to them (``decide``'s hold).
Each level is told once per budget and period; setting, raising or removing a budget
re-evaluates it at once (a ``budget`` event with ``change``), which wakes the held
deliveries. Models without a price add nothing to what is spent.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sm.core.delivery.decide import Hold
from sm.core.delivery.queue import Queue
from sm.core.events import EventBus
from sm.core.prices import PriceTable
from sm.core.usage import total
from sm.errors import InvalidInput, NotFound
from sm.store import Conn, Store
from sm.store.budgets import BudgetRow, Mark
from sm.store.events import EventRecord
from sm.store.sessions import SessionRecord
from sm.vocab import DeliveryMode, EventKind

SCOPES = ("session", "project", "day")
ACTIONS = ("interrupt", "notify")
WARN, EXCEEDED = "warn", "exceeded"
_RANK = {"": 0, WARN: 1, EXCEEDED: 2}
_DAY = 86400
_DOLLARS = re.compile(r"^\$(\d[\d,]*(?:\.\d*)?|\.\d+)$")
_ALL = 1_000_000


def parse_amount(text: str, what: str = "budget") -> int:
    """``$1.50`` (dollars) or ``1500000`` (micro-dollars) → micro-dollars. Raises
    InvalidInput for anything else, and for zero."""
    t = str(text).strip()
    value: int | None = None
    found = _DOLLARS.match(t)
    if found:
        try:
            exact = Decimal(found[1].replace(",", "")) * 1_000_000
        except InvalidOperation:
            exact = Decimal(-1)
        if exact == exact.to_integral_value() and exact >= 0:
            value = int(exact)
    elif t.isdigit():
        value = int(t)
    if value is None:
        raise InvalidInput(f"{what} {text!r}: expected dollars ($1.50) or micro-dollars "
                           "(1500000)")
    if value <= 0:
        raise InvalidInput(f"{what} {text!r}: expected more than zero")
    return value


def dollars(micros: int) -> str:
    """``$1.50``; small amounts keep their cents' fractions (``$0.0123``)."""
    usd = Decimal(micros) / 1_000_000
    text = f"{usd:,.6f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def utc_day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


@dataclass(frozen=True)
class Budget:
    scope: str  # session | project | day
    key: str  # the session id, the project's directory, "" for the day
    limit_micros: int
    default: bool = False  # from config (budgets.session, budgets.day), not set

    def period(self, now: float) -> str:
        return utc_day(now) if self.scope == "day" else ""


@dataclass(frozen=True)
class Standing:
    """A budget with what was spent against it in its period, and the level reached."""

    budget: Budget
    period: str
    spent_micros: int
    level: str  # "", warn, exceeded
    label: str = ""  # the session's name, for a session budget

    @property
    def percent(self) -> float:
        return round(100 * self.spent_micros / self.budget.limit_micros, 1)


def describe(b: Budget, label: str = "") -> str:
    if b.scope == "session":
        return f"session {label or b.key}'s budget"
    if b.scope == "project":
        return f"the budget of project {b.key}"
    return "today's budget (all sessions)"


class Budgets:
    def __init__(
        self,
        store: Store,
        bus: EventBus,
        queue: Queue,
        prices: PriceTable,
        *,
        session_default: int = 0,
        day_default: int = 0,
        action: str = "interrupt",
        warn_at: float = 0.8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if action not in ACTIONS:
            raise InvalidInput(f"budgets.action {action!r}: expected one of "
                               f"{', '.join(ACTIONS)}")
        if not 0 <= warn_at < 1:
            raise InvalidInput(f"budgets.warn_at {warn_at!r}: expected a share from 0 to "
                               "below 1 (0: no warning)")
        self.store = store
        self.bus = bus
        self.queue = queue
        self.prices = prices
        self.session_default = session_default
        self.day_default = day_default
        self.action = action
        self.warn_at = warn_at
        self.clock = clock
        self._rows: dict[tuple[str, str], BudgetRow] | None = None

    # -- which budgets ----------------------------------------------------------------
    async def rows(self) -> dict[tuple[str, str], BudgetRow]:
        if self._rows is None:
            self._rows = {(r.scope, r.key): r for r in await self.store.budgets.all()}
        return self._rows

    async def covering(self, rec: SessionRecord) -> list[Budget]:
        """The budgets in force for ``rec`` (in memory: no query once loaded)."""
        rows = await self.rows()
        out = []
        own = rows.get(("session", rec.id))
        if own is not None:
            out.append(Budget("session", rec.id, own.limit_micros))
        elif self.session_default:
            out.append(Budget("session", rec.id, self.session_default, default=True))
        project = rows.get(("project", rec.cwd))
        if project is not None:
            out.append(Budget("project", rec.cwd, project.limit_micros))
        out += [b for b in [await self._effective("day", "")] if b is not None]
        return out

    async def _effective(self, scope: str, key: str) -> Budget | None:
        """The budget of ``scope``/``key`` in force: the one set, else the default."""
        row = (await self.rows()).get((scope, key))
        if row is not None:
            return Budget(scope, key, row.limit_micros)
        return self._default(scope, key)

    def _default(self, scope: str, key: str) -> Budget | None:
        default = {"session": self.session_default, "day": self.day_default}.get(scope, 0)
        return Budget(scope, key, default, default=True) if default else None

    async def spent(self, b: Budget, now: float) -> int:
        if b.scope == "session":
            sums = await self.store.usage.sums(None, [b.key])
        elif b.scope == "project":
            sums = await self.store.budgets.project_sums(b.key)
        else:
            sums = await self.store.usage.sums(None, None, float(int(now // _DAY) * _DAY))
        return total(sums, self.prices).cost_micros

    def level(self, spent: int, limit: int) -> str:
        if spent >= limit:
            return EXCEEDED
        if self.warn_at > 0 and spent >= self.warn_at * limit:
            return WARN
        return ""

    async def _covered(self, b: Budget) -> list[str]:
        """The live sessions ``b`` covers."""
        if b.scope == "session":
            return [b.key]
        live = await self.store.sessions.list(live_only=True, limit=_ALL)
        return [r.id for r in live if b.scope == "day" or r.cwd == b.key]

    # -- checked with every usage insert ------------------------------------------------
    async def check(self, conn: Conn, rec: SessionRecord, now: float
                    ) -> list[EventRecord | None]:
        """A usage check, in the usage insert's transaction: the warnings and stops the
        session's new usage caused."""
        budgets = await self.covering(rec)
        if not budgets:
            return []
        marks = await self.store.budgets.marks([(b.scope, b.key, b.period(now))
                                                for b in budgets])
        events: list[EventRecord | None] = []
        for b in budgets:
            spent = await self.spent(b, now)
            events += await self._settle(conn, b, now, spent, marks.get((b.scope, b.key)),
                                         by=rec)
        return events

    async def _settle(
        self, conn: Conn, b: Budget, now: float, spent: int, old: Mark | None, *,
        by: SessionRecord | None = None, change: str = "",
    ) -> list[EventRecord | None]:
        """Write ``b``'s mark for what is spent; an event (and a notice to ``by``'s
        parent) when its level rose, or when the budget itself changed."""
        period = b.period(now)
        level = self.level(spent, b.limit_micros)
        before = old.level if old is not None else ""
        if level:
            await self.store.budgets.set_mark(conn, Mark(b.scope, b.key, period, level, spent,
                                                         b.limit_micros, now))
        elif old is not None:
            await self.store.budgets.clear_mark(conn, b.scope, b.key, period)
        rose = _RANK[level] > _RANK[before]
        if not rose and not change:
            return []
        label = ""
        if b.scope == "session":
            target = by if by is not None and by.id == b.key else \
                await self.store.sessions.get(b.key)
            label = target.label if target is not None else b.key
        stop = rose and level == EXCEEDED and self.action == "interrupt"
        event = await self.store.events.append(conn, now, by.id if by else (
            b.key if b.scope == "session" else None), EventKind.BUDGET, {
            "scope": b.scope, "key": b.key, "label": label, "period": period,
            "level": level, "before": before, "spent_micros": spent,
            "limit_micros": b.limit_micros, "percent": round(100 * spent / b.limit_micros, 1),
            "action": self.action, "default": b.default, "stop": stop,
            "change": change, "sessions": await self._covered(b),
        })
        events: list[EventRecord | None] = [event]
        if rose and by is not None and by.parent_id:
            parent = await self.store.sessions.get(by.parent_id)
            if parent is not None and parent.is_live:
                text = self._notice(b, label, level, spent, by)
                _, told = await self.queue.accept_in(conn, None, "sm", parent, text,
                                                     DeliveryMode.SEQUENTIAL, notice=True)
                events.append(told)
        return events

    def _notice(self, b: Budget, label: str, level: str, spent: int, by: SessionRecord
                ) -> str:
        what = describe(b, label)
        amounts = f"{dollars(spent)} of {dollars(b.limit_micros)}"
        if level == WARN:
            return (f"budget: {what} is at {round(100 * spent / b.limit_micros)}% "
                    f"({amounts}, after {by.label}'s latest usage)")
        if self.action == "interrupt":
            whom = by.label if b.scope == "session" else "the sessions it covers"
            return (f"budget: {what} is reached ({amounts}): the running turn was "
                    f"interrupted and messages to {whom} wait until the budget is raised "
                    f"(sm budget set)")
        return f"budget: {what} is reached ({amounts}); budgets.action is notify: " \
               "nothing was stopped"

    # -- the hold on deliveries ------------------------------------------------------------
    async def paused(self, rec: SessionRecord) -> Hold | None:
        """Whether deliveries to ``rec`` are held: a budget of its in force is exceeded
        and the action is ``interrupt``. None costs no query when no budget covers it."""
        if self.action != "interrupt":
            return None
        budgets = await self.covering(rec)
        if not budgets:
            return None
        now = self.clock()
        marks = await self.store.budgets.marks([(b.scope, b.key, b.period(now))
                                                for b in budgets])
        for b in budgets:
            m = marks.get((b.scope, b.key))
            if m is not None and m.level == EXCEEDED and m.spent_micros >= b.limit_micros:
                until = (int(now // _DAY) + 1) * _DAY if b.scope == "day" else None
                return Hold(f"paused: budget — {describe(b, rec.label)} is reached "
                            f"({dollars(m.spent_micros)} of {dollars(b.limit_micros)}); "
                            "raise it with sm budget set", until)
        return None

    # -- changes ------------------------------------------------------------------------
    async def set(self, scope: str, key: str, limit: int) -> Standing:
        """Set (or raise, or lower) a budget; it is re-evaluated at once."""
        now = self.clock()
        b = Budget(scope, key, limit)
        async with self.store.write() as conn:
            await self.store.budgets.put(conn, BudgetRow(scope, key, limit, now))
            spent = await self.spent(b, now)
            old = (await self.store.budgets.marks([(scope, key, b.period(now))])).get(
                (scope, key))
            events = await self._settle(conn, b, now, spent, old, change="set")
        (await self.rows())[(scope, key)] = BudgetRow(scope, key, limit, now)
        await self.bus.publish(events)
        return Standing(b, b.period(now), spent, self.level(spent, limit))

    async def remove(self, scope: str, key: str) -> Standing | None:
        """Remove a budget that was set; the default (if any) is in force again.
        Returns the standing under that default, None without one. Raises NotFound."""
        now = self.clock()
        rows = await self.rows()
        if (scope, key) not in rows:
            raise NotFound(f"no {scope} budget is set{' for ' + key if key else ''}")
        async with self.store.write() as conn:
            await self.store.budgets.delete(conn, scope, key)
            b = self._default(scope, key)
            period = utc_day(now) if scope == "day" else ""
            old = (await self.store.budgets.marks([(scope, key, period)])).get((scope, key))
            standing = None
            if b is None:
                await self.store.budgets.clear_mark(conn, scope, key, period)
                covered = await self._covered(Budget(scope, key, 1))
                events: list[EventRecord | None] = [await self.store.events.append(
                    conn, now, key if scope == "session" else None, EventKind.BUDGET, {
                        "scope": scope, "key": key, "period": period, "level": "",
                        "before": old.level if old else "", "change": "removed",
                        "limit_micros": None, "stop": False, "sessions": covered})]
            else:
                spent = await self.spent(b, now)
                events = await self._settle(conn, b, now, spent, old, change="removed")
                standing = Standing(b, period, spent, self.level(spent, b.limit_micros))
        del rows[(scope, key)]
        await self.bus.publish(events)
        return standing

    async def standings(self) -> list[Standing]:
        """Every budget set, the day's default, and each live session's default."""
        now = self.clock()
        rows = await self.rows()
        found: list[Budget] = [Budget(r.scope, r.key, r.limit_micros) for r in rows.values()]
        day = await self._effective("day", "")
        if day is not None and day.default:
            found.append(day)
        live = await self.store.sessions.list(live_only=True, limit=_ALL)
        labels = {r.id: r.label for r in live}
        if self.session_default:
            found += [Budget("session", r.id, self.session_default, default=True)
                      for r in live if ("session", r.id) not in rows]
        out = []
        for b in found:
            spent = await self.spent(b, now)
            label = labels.get(b.key, "") if b.scope == "session" else ""
            if b.scope == "session" and not label:
                rec = await self.store.sessions.get(b.key)
                label = rec.label if rec is not None else b.key
            out.append(Standing(b, b.period(now), spent, self.level(spent, b.limit_micros),
                                label))
        return sorted(out, key=lambda s: (SCOPES.index(s.budget.scope), s.budget.key))


def public(s: Standing) -> dict[str, Any]:
    """A standing as plain data (the API's shape)."""
    b = s.budget
    return {"scope": b.scope, "key": b.key, "label": s.label, "limit_micros": b.limit_micros,
            "default": b.default, "period": s.period, "spent_micros": s.spent_micros,
            "percent": s.percent, "level": s.level}


__all__ = ["ACTIONS", "SCOPES", "Budget", "Budgets", "Standing", "dollars", "parse_amount",
           "public"]
