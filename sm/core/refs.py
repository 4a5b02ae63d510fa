"""Resolving what a caller names: a session by id, name or id prefix; a message by id
or id prefix; a job by id, name or id prefix. One implementation each, used by every
operation."""

from __future__ import annotations

from sm.errors import InvalidInput, NotFound
from sm.store import Store
from sm.store.jobs import JobRecord
from sm.store.messages import MessageRecord
from sm.store.sessions import SessionRecord

MAX_REF = 200  # longer than any id or name sm gives


def _check(what: str, ref: str) -> str:
    if not ref:
        raise InvalidInput(f"empty {what} reference")
    if len(ref) > MAX_REF:
        raise InvalidInput(f"{what} reference is {len(ref)} characters; the limit is {MAX_REF}")
    return ref


async def session(store: Store, ref: str) -> SessionRecord:
    """A session by id, name (a live one first) or unique id prefix. Raises NotFound,
    or InvalidInput for an ambiguous prefix (naming the candidates)."""
    found = await store.sessions.find(_check("session", ref))
    if not found:
        raise NotFound(f"no session {ref!r}")
    if len(found) > 1:
        names = ", ".join(r.id for r in found[:5])
        raise InvalidInput(f"session reference {ref!r} is ambiguous: {names}")
    return found[0]


async def message(store: Store, ref: str) -> MessageRecord:
    """A message by id or unique id prefix. Raises NotFound, or InvalidInput for an
    ambiguous prefix."""
    found = await store.messages.find(_check("message", ref))
    if not found:
        raise NotFound(f"no message {ref!r}")
    if len(found) > 1:
        raise InvalidInput(f"message reference {ref!r} is ambiguous: give more of its id")
    return found[0]


async def job(store: Store, ref: str) -> JobRecord:
    """A job by id, name (one that has not ended first, then the newest) or unique id
    prefix. Raises NotFound, or InvalidInput for an ambiguous prefix."""
    found = await store.jobs.find(_check("job", ref))
    if not found:
        raise NotFound(f"no job {ref!r}")
    if len(found) > 1 and found[0].id != ref and found[0].name != ref:
        raise InvalidInput(f"job reference {ref!r} is ambiguous: "
                           f"{', '.join(j.id for j in found)}")
    return found[0]
