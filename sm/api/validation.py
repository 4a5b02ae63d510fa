"""One line for a failed pydantic validation: what every adapter answers bad input with."""

from __future__ import annotations

from typing import Any


def validation_message(errors: list[dict[str, Any]]) -> str:
    """One line naming the field, what was expected and the value given, e.g.
    ``mode: input should be 'sequential', 'important' or 'urgent'; got 'loud'``."""
    if not errors:
        return "invalid request"
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ())]
    where = ".".join(loc[1:] if loc and loc[0] in ("body", "query", "path") else loc)
    msg = str(first.get("msg", "invalid"))
    msg = msg[:1].lower() + msg[1:]
    if first.get("type") == "missing":
        text = f"{where or 'request body'}: a required field is missing"
    elif first.get("type") == "json_invalid":
        text = f"request body is not valid JSON: {first.get('ctx', {}).get('error', msg)}"
    else:
        got = repr(first.get("input"))
        got = got if len(got) <= 60 else got[:57] + "..."
        text = f"{where or 'request body'}: {msg}; got {got}"
    more = len(errors) - 1
    return text + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
