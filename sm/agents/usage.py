"""What an agent's own records say it spent: the values every transcript reader returns.

A reader knows where one provider keeps its records inside a session's private
directory (``files``) and turns the complete lines after a byte offset into
``Response`` rows (``parse``). Readers are pure and blocking: the daemon calls them in
a worker thread. A line that is not JSON is skipped and counted, never raised; a last
line without its newline is left for the next read (the agent is still writing it).

    Tokens      one API response's counts, in one vocabulary for every provider
    Response    one API response: its identity (the dedupe key), model, tokens, context
    ApiError    an API error the agent recorded
    TelemetryRequest  one request as the agent's OpenTelemetry export reported it
    Chunk       what one read returned, and where the next read starts
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

# a read takes at most this much of a file; the rest waits for the next read
MAX_READ = 8 * 1024 * 1024


@dataclass(frozen=True)
class Tokens:
    """Counts of one response. ``input`` is input neither read from nor written to the
    prompt cache; ``output`` includes ``reasoning`` (Codex reports reasoning apart)."""

    input: int = 0
    output: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    cache_read: int = 0
    reasoning: int = 0

    @property
    def cache_write(self) -> int:
        return self.cache_write_5m + self.cache_write_1h

    @property
    def prompt(self) -> int:
        """The whole prompt the model read: what fills the context window."""
        return self.input + self.cache_write + self.cache_read

    def is_zero(self) -> bool:
        return not (self.input or self.output or self.cache_write or self.cache_read)


@dataclass(frozen=True)
class Response:
    """One API response. ``key`` identifies it across lines and files (Claude Code
    writes one line per content block, each with the same usage; a resumed or forked
    conversation copies old lines); ``agent`` is a subagent's id, "" for the session's
    own conversation; ``window`` is the context window and ``context`` the prompt's
    size when the record says them (else ``tokens.prompt`` is the prompt's size)."""

    key: str
    ts: float
    model: str
    tokens: Tokens
    request_id: str = ""
    agent: str = ""
    window: int | None = None
    context: int | None = None

    @property
    def prompt(self) -> int:
        return self.context if self.context is not None else self.tokens.prompt


@dataclass(frozen=True)
class ApiError:
    key: str
    ts: float
    # "api_error" (in the transcript), "stop_failure" (the hook), "telemetry_api_error"
    kind: str
    message: str


@dataclass(frozen=True)
class TelemetryRequest:
    """One API request as the agent's own OpenTelemetry export reported it."""

    request_id: str
    ts: float
    model: str
    query_source: str  # what the request was for ("repl_main_thread", a title, …)
    tokens: Tokens
    agent_cost_micros: int | None  # the agent's own price of it


@dataclass
class Chunk:
    """The outcome of one read. ``state`` is the reader's own memory between reads of
    one file (JSON-serialisable; the store keeps it with the offset)."""

    offset: int
    responses: list[Response] = field(default_factory=list)
    errors: list[ApiError] = field(default_factory=list)
    skipped: int = 0
    state: dict[str, Any] = field(default_factory=dict)


class TranscriptReader(Protocol):
    def files(self, session_dir: Path) -> list[Path]:
        """The record files of one session, found under its private directory."""
        ...

    def parse(self, path: Path, offset: int, state: dict[str, Any]) -> Chunk:
        """Read the complete lines of ``path`` after ``offset``. Raises OSError only
        when the file cannot be opened."""
        ...


def lines(path: Path, offset: int, limit: int = MAX_READ) -> tuple[list[tuple[int, bytes]], int]:
    """The complete lines after ``offset`` (each with its own offset) and the offset
    after the last of them. A partial last line is not returned. A file shorter than
    ``offset`` (rewritten from scratch) is read again from its start."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        if size < offset:
            offset = 0
        f.seek(offset)
        data = f.read(min(limit, size - offset))
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    out, start = [], 0
    for raw in data[: end + 1].split(b"\n")[:-1]:
        out.append((offset + start, raw))
        start += len(raw) + 1
    return out, offset + end + 1


def records(chunk: Chunk, found: list[tuple[int, bytes]]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Decode JSON lines; blank lines are ignored, anything else that is not a JSON
    object is counted in ``chunk.skipped``."""
    for at, raw in found:
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            chunk.skipped += 1
            continue
        if isinstance(value, dict):
            yield at, value
        else:
            chunk.skipped += 1


def timestamp(value: Any) -> float:
    """Seconds since the epoch from an ISO 8601 string (``…Z``) or a number; 0 if
    neither."""
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0
    return 0.0


def count(value: Any) -> int:
    """A token count from a record: non-negative ints only (anything else is 0)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
