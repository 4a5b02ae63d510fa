"""The scripted agent's transcripts, one JSON Lines file per conversation."""

from __future__ import annotations

import json
import os
from typing import Any


class Transcript:
    """``<dir>/<conversation-id>.jsonl``: one JSON line per prompt and assistant message,
    written and flushed (file closed) before the call returns."""

    def __init__(self, directory: str) -> None:
        self._dir = directory

    def path(self, conversation: str) -> str:
        return os.path.join(self._dir, f"{conversation}.jsonl")

    def append(self, conversation: str, record: dict[str, Any]) -> None:
        os.makedirs(self._dir, exist_ok=True)
        with open(self.path(conversation), "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def retract(self, conversation: str, record_id: str) -> None:
        """Take a prompt back out of the conversation (an interrupt put it back into the
        composer before anything answered it): a ``retracted`` line naming its id."""
        self.append(conversation, {"type": "retracted", "id": record_id})

    def count(self, conversation: str) -> int | None:
        """Messages in the conversation, or None when it has no transcript."""
        try:
            with open(self.path(conversation), encoding="utf-8") as f:
                return sum(1 for line in f if line.strip())
        except FileNotFoundError:
            return None


def received(path: str) -> list[str]:
    """The prompts a transcript file holds, in order, without retracted ones."""
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                records.append(json.loads(line))
    gone = {r.get("id") for r in records if r.get("type") == "retracted"}
    return [r["prompt"] for r in records
            if r.get("type") == "user" and (r.get("id") is None or r.get("id") not in gone)]
