"""The one exception tree: stable codes, HTTP statuses, exit codes, and a lossless trip
through the daemon's JSON error body."""

from __future__ import annotations

import json

import pytest

from sm import errors
from sm.errors import (
    ERRORS,
    Conflict,
    DeliveryFailed,
    InvalidInput,
    NotFound,
    Refused,
    SmError,
    StorageFull,
    TooLarge,
    Unauthorized,
    Unavailable,
    from_payload,
)

# code → (class, HTTP status, exit code), as the table in sm/errors.py documents
DOCUMENTED = {
    "invalid_input": (InvalidInput, 400, 2),
    "bad_token": (Unauthorized, 401, 1),
    "refused": (Refused, 403, 1),
    "not_found": (NotFound, 404, 1),
    "conflict": (Conflict, 409, 1),
    "delivery_failed": (DeliveryFailed, 409, 1),
    "unavailable": (Unavailable, 503, 2),
    "too_large": (TooLarge, 413, 2),
    "storage_full": (StorageFull, 507, 2),
}


def _all_subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _all_subclasses(sub)
    return out


def test_every_error_class_is_registered_under_a_unique_code() -> None:
    classes = {c for c in _all_subclasses(SmError) if c.__module__ == "sm.errors"}
    assert set(ERRORS.values()) == classes
    assert all(ERRORS[c.code] is c for c in classes)
    assert len({c.code for c in classes}) == len(classes)


@pytest.mark.parametrize("code", sorted(DOCUMENTED))
def test_documented_codes(code: str) -> None:
    cls, status, exit_code = DOCUMENTED[code]
    assert ERRORS[code] is cls
    assert (cls.code, cls.status, cls.exit_code) == (code, status, exit_code)
    assert code in (errors.__doc__ or "")


@pytest.mark.parametrize("code", sorted(ERRORS))
def test_round_trip_through_the_json_body(code: str) -> None:
    cls = ERRORS[code]
    err = cls(f"the {code} thing: 'bad' (expected 'good') — ünïcode")
    body = json.loads(json.dumps(err.to_dict()))
    assert body == {"error": {"code": code, "message": err.message}}
    back = from_payload(body, cls.status)
    assert type(back) is cls
    assert back.message == err.message == str(back)
    assert (back.status, back.exit_code) == (cls.status, cls.exit_code)


def test_every_subclass_keeps_its_family() -> None:
    for cls in ERRORS.values():
        assert issubclass(cls, SmError)
        assert cls.status >= 400 and cls.exit_code in (1, 2)
        # a caller catching the documented parent still catches a refinement
        parents = [p for p in cls.__mro__[1:] if p in DOCUMENTED_CLASSES]
        if cls not in DOCUMENTED_CLASSES:
            assert parents, cls
            assert cls.status == parents[0].status and cls.exit_code == parents[0].exit_code


DOCUMENTED_CLASSES = {cls for cls, _status, _exit in DOCUMENTED.values()}


@pytest.mark.parametrize(("payload", "status"), [
    ({"error": {"code": "no_such_code", "message": "strange"}}, 418),
    ({"error": {"message": "no code"}}, 500),
])
def test_unknown_codes_become_the_base_class(payload: dict, status: int) -> None:
    err = from_payload(payload, status)
    assert type(err) is SmError
    assert err.message == payload["error"]["message"]
    assert err.exit_code == 1


@pytest.mark.parametrize("payload", [None, "text", [], {}, {"error": "flat string"}])
def test_a_body_without_an_error_names_the_status(payload: object) -> None:
    err = from_payload(payload, 502)
    assert type(err) is SmError
    assert "502" in err.message


def test_base_error_defaults() -> None:
    err = SmError("boom")
    assert (err.code, err.status, err.exit_code) == ("error", 500, 1)
    assert err.to_dict() == {"error": {"code": "error", "message": "boom"}}
