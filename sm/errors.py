"""The one exception tree of sm (stdlib only: the client and hooks import it).

    SmError                       code          HTTP  exit
    ├── InvalidInput              invalid_input  400    2   bad name, empty prompt, bad config …
    │   └── TooLarge              too_large      413    2   a request body over the size cap
    ├── Unauthorized              bad_token      401    1   a session token the daemon does not know
    ├── Refused                   refused        403    1   identity or permission says no
    ├── NotFound                  not_found      404    1   unknown session, message, provider …
    ├── Conflict                  conflict       409    1   name taken, wrong state for it
    │   └── Deadlock              deadlock       409    1   a lock wait would close a cycle
    ├── DeliveryFailed            delivery_failed 409   1   a message could not be delivered
    ├── Unavailable               unavailable    503    2   daemon, tmux or an agent binary missing
    └── StorageFull               storage_full   507    2   the disk (or the store's cap) is full

Every error carries a stable ``code`` and a message that names the thing, the bad
value and what was expected. The daemon turns them into
``{"error": {"code", "message"}}``; the client turns that back into the same class.
"""

from __future__ import annotations


class SmError(Exception):
    code = "error"
    status = 500
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


class InvalidInput(SmError):
    code = "invalid_input"
    status = 400
    exit_code = 2


class TooLarge(InvalidInput):
    """A request body over the daemon's size cap; refused before it is read whole."""

    code = "too_large"
    status = 413


class Unauthorized(SmError):
    code = "bad_token"
    status = 401


class Refused(SmError):
    code = "refused"
    status = 403


class NotFound(SmError):
    code = "not_found"
    status = 404


class Conflict(SmError):
    code = "conflict"
    status = 409


class Deadlock(Conflict):
    """Waiting for a lock would close a cycle in the wait-for graph."""

    code = "deadlock"


class DeliveryFailed(SmError):
    code = "delivery_failed"
    status = 409


class Unavailable(SmError):
    code = "unavailable"
    status = 503
    exit_code = 2


class StorageFull(SmError):
    """The store could not write: the disk (or ``limits.max_db_bytes``) is full. What
    was accepted before stays; the write that failed changed nothing."""

    code = "storage_full"
    status = 507
    exit_code = 2


ERRORS: dict[str, type[SmError]] = {
    cls.code: cls
    for cls in (
        InvalidInput, TooLarge, Unauthorized, Refused, NotFound, Conflict, Deadlock,
        DeliveryFailed, Unavailable, StorageFull,
    )
}


def from_payload(payload: object, status: int) -> SmError:
    """Rebuild the error the daemon raised from its JSON error body."""
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        err = payload["error"]
        cls = ERRORS.get(str(err.get("code")), SmError)
        return cls(str(err.get("message", "")))
    return SmError(f"daemon answered HTTP {status} with no error body")
