"""Output for the agent-facing fast path: JSON for scripts, one plain text for people.
Stdlib only (no rich, no typing at run time)."""

from __future__ import annotations

import json
import sys


def print_result(data: object, as_json: bool, text: str) -> None:
    sys.stdout.write(json.dumps(data) + "\n" if as_json else text + "\n")
