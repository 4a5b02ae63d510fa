"""Usage from Codex's rollouts (measured on 0.169.0, tests/e2e/FACTS.md §6).

Under its ``CODEX_HOME`` Codex writes ``sessions/YYYY/MM/DD/rollout-<ts>-<thread>.jsonl``
per thread: the session's own, a new one after ``/new``, one per forked thread and per
subagent thread (its title thread is not written). After each API response it appends
a ``token_count`` event whose ``info.total_token_usage`` is the thread's running total
(``input_tokens`` — cached ones included —, ``cached_input_tokens``,
``cache_write_input_tokens``, ``output_tokens`` — reasoning included —,
``reasoning_output_tokens``) beside the response's own ``last_token_usage`` and the
model's ``model_context_window``. It re-emits the event with unchanged totals.

So a response is a *change* of the total: unchanged re-emissions are skipped, and each
change is counted as its delta. A thread's first event counts only its
``last_token_usage``: a forked thread's total starts at its parent's (its rollout names
it in ``forked_from_id`` and copies none of its lines), and the parent's file already
counted those. A total that goes down starts over the same way. The model is the last
``turn_context``'s; a subagent's thread (``session_meta.source.subagent``) is counted
as that agent's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sm.agents.usage import Chunk, Response, Tokens, count, lines, records, timestamp

_FIELDS = ("input_tokens", "cached_input_tokens", "cache_write_input_tokens", "output_tokens",
           "reasoning_output_tokens")


class CodexRollouts:
    def __init__(self, root: str = "codex/sessions") -> None:
        self.root = root

    def files(self, session_dir: Path) -> list[Path]:
        base = session_dir / self.root
        if not base.is_dir():
            return []
        return sorted(base.glob("*/*/*/rollout-*.jsonl"))

    def parse(self, path: Path, offset: int, state: dict[str, Any]) -> Chunk:
        found, end = lines(path, offset)
        chunk = Chunk(offset=end, state=dict(state))
        st = chunk.state
        for at, record in records(chunk, found):
            kind = record.get("type")
            payload = record.get("payload")
            if not isinstance(payload, dict):
                continue
            if kind == "session_meta":
                source = payload.get("source")
                if isinstance(source, dict) and "subagent" in source:
                    st["agent"] = str(payload.get("id") or path.stem)
            elif kind == "turn_context" and payload.get("model"):
                st["model"] = str(payload["model"])
            elif kind == "event_msg" and payload.get("type") == "token_count":
                response = _response(path, at, record, payload, st)
                if response is not None:
                    chunk.responses.append(response)
        return chunk


def _totals(usage: Any) -> list[int] | None:
    if not isinstance(usage, dict):
        return None
    return [count(usage.get(name)) for name in _FIELDS]


def _response(
    path: Path, at: int, record: dict[str, Any], payload: dict[str, Any], st: dict[str, Any]
) -> Response | None:
    info = payload.get("info")
    if not isinstance(info, dict):
        return None  # a rate-limit-only update
    total = _totals(info.get("total_token_usage"))
    if total is None:
        return None
    last = _totals(info.get("last_token_usage"))
    previous: list[int] | None = st.get("total")
    if previous == total:
        return None  # re-emitted unchanged
    if previous is None or any(t < p for t, p in zip(total, previous, strict=True)):
        delta = last if last is not None else total
    else:
        delta = [t - p for t, p in zip(total, previous, strict=True)]
    st["total"] = total
    window = info.get("model_context_window")
    in_, cached, written, out, reasoning = delta
    context = last if last is not None else delta
    return Response(
        key=f"codex:{path.name}:{at}",
        ts=timestamp(record.get("timestamp")),
        model=str(st.get("model") or ""),
        tokens=Tokens(
            input=max(0, in_ - cached - written),
            output=out,
            cache_write_5m=written,
            cache_read=cached,
            reasoning=reasoning,
        ),
        agent=str(st.get("agent") or ""),
        window=window if isinstance(window, int) and window > 0 else None,
        context=context[0],
    )
