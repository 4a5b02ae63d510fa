"""Usage from Claude Code's transcripts (measured on 2.1.330, tests/e2e/FACTS.md §6).

Under its config directory Claude Code writes ``projects/<cwd>/<session id>.jsonl`` per
conversation (a ``/clear`` starts a new one) and, for each subagent,
``projects/<cwd>/<session id>/subagents/agent-<agent id>.jsonl``. An API response is
an ``assistant`` line whose ``message`` carries ``id``, ``model`` and ``usage``
(``input_tokens``, ``output_tokens``, ``cache_creation_input_tokens`` split in
``cache_creation.ephemeral_5m/1h_input_tokens``, ``cache_read_input_tokens``) and whose
``requestId`` is the API's request id. A response with several content blocks is
written as one line per block, each with the same usage: it is one response, keyed by
``message.id`` + ``requestId``; the last line's counts win (a line written while the
response streamed holds a partial ``output_tokens``). ``isApiErrorMessage`` lines are
the API errors Claude Code showed.

sm's ``scripted`` agent writes the same lines into ``<session dir>/transcripts``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sm.agents.usage import (
    ApiError,
    Chunk,
    Response,
    TelemetryRequest,
    Tokens,
    count,
    lines,
    records,
    timestamp,
)

SYNTHETIC = "<synthetic>"  # the model of the messages Claude Code writes itself


class ClaudeTranscripts:
    """``root`` is where the transcripts live, relative to the session directory;
    ``patterns`` the globs that find them there."""

    def __init__(
        self, root: str = "claude/projects",
        patterns: tuple[str, ...] = ("*/*.jsonl", "*/*/subagents/*.jsonl"),
    ) -> None:
        self.root = root
        self.patterns = patterns

    def files(self, session_dir: Path) -> list[Path]:
        base = session_dir / self.root
        if not base.is_dir():
            return []
        return sorted({p for pattern in self.patterns for p in base.glob(pattern)})

    def parse(self, path: Path, offset: int, state: dict[str, Any]) -> Chunk:
        found, end = lines(path, offset)
        chunk = Chunk(offset=end, state=state)
        for _at, record in records(chunk, found):
            if record.get("type") != "assistant":
                continue
            message = record.get("message")
            if not isinstance(message, dict):
                continue
            if record.get("isApiErrorMessage"):
                chunk.errors.append(_error(record, message))
                continue
            response = _response(record, message)
            if response is not None:
                chunk.responses.append(response)
        return chunk


def tokens(usage: dict[str, Any]) -> Tokens:
    """Anthropic's ``usage`` object as Tokens. Cache writes without the 5m/1h split
    (older transcripts) count as 5-minute writes, the API's default lifetime."""
    written = count(usage.get("cache_creation_input_tokens"))
    split = usage.get("cache_creation")
    one_hour = count(split.get("ephemeral_1h_input_tokens")) if isinstance(split, dict) else 0
    return Tokens(
        input=count(usage.get("input_tokens")),
        output=count(usage.get("output_tokens")),
        cache_write_5m=max(0, written - one_hour),
        cache_write_1h=min(one_hour, written) if written else one_hour,
        cache_read=count(usage.get("cache_read_input_tokens")),
    )


def _response(record: dict[str, Any], message: dict[str, Any]) -> Response | None:
    usage = message.get("usage")
    message_id = message.get("id")
    if not isinstance(usage, dict) or not isinstance(message_id, str) or not message_id:
        return None
    counted = tokens(usage)
    model = str(message.get("model") or "")
    if model == SYNTHETIC and counted.is_zero():
        return None
    request_id = str(record.get("requestId") or "")
    return Response(
        key=f"{message_id}:{request_id}",
        ts=timestamp(record.get("timestamp")),
        model=model,
        tokens=counted,
        request_id=request_id,
        agent=str(record.get("agentId") or "") if record.get("isSidechain") else "",
    )


def _error(record: dict[str, Any], message: dict[str, Any]) -> ApiError:
    text = ""
    content = message.get("content")
    if isinstance(content, list):
        text = " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    elif isinstance(content, str):
        text = content
    detail = record.get("error")
    if not text and detail:
        text = str(detail)
    return ApiError(
        key=f"claude:{record.get('uuid') or message.get('id') or ''}",
        ts=timestamp(record.get("timestamp")),
        kind="api_error",
        message=text.strip()[:500],
    )


# -- OpenTelemetry ------------------------------------------------------------------------
# With CLAUDE_CODE_ENABLE_TELEMETRY=1 and an OTLP logs exporter, Claude Code reports
# every API request as a ``claude_code.api_request`` log record — the ones its
# transcript holds and the side requests it does not (session titles, …) — and API
# errors as ``claude_code.api_error``. sm tags each agent's export with its session id.
SESSION_ATTRIBUTE = "sm.session"


def telemetry(doc: Any) -> dict[str, tuple[list[TelemetryRequest], list[ApiError]]]:
    """An OTLP/JSON ``ExportLogsServiceRequest`` as requests and errors per sm session
    id. Records of no sm session, and anything malformed, are left out."""
    out: dict[str, tuple[list[TelemetryRequest], list[ApiError]]] = {}
    if not isinstance(doc, dict):
        return out
    for resource_logs in _list(doc.get("resourceLogs")):
        resource = _attributes((resource_logs.get("resource") or {}).get("attributes"))
        for scope_logs in _list(resource_logs.get("scopeLogs")):
            for record in _list(scope_logs.get("logRecords")):
                attrs = {**resource, **_attributes(record.get("attributes"))}
                session = str(attrs.get(SESSION_ATTRIBUTE) or "")
                if not session:
                    continue
                requests, errors = out.setdefault(session, ([], []))
                name = attrs.get("event.name")
                if name == "api_request" and attrs.get("request_id"):
                    requests.append(_telemetry_request(attrs))
                elif name == "api_error":
                    errors.append(ApiError(
                        key=f"otel:{attrs.get('session.id', '')}:{attrs.get('event.sequence', '')}",
                        ts=timestamp(attrs.get("event.timestamp")), kind="telemetry_api_error",
                        message=str(attrs.get("error") or attrs.get("status_code") or "")[:500],
                    ))
    return out


def _telemetry_request(attrs: dict[str, Any]) -> TelemetryRequest:
    def n(name: str) -> int:
        value = attrs.get(name)
        if isinstance(value, str) and value.isdigit():
            return int(value)
        return count(value)

    one_hour = n("cache_creation_1h_tokens")
    five_minutes = (n("cache_creation_5m_tokens") if "cache_creation_5m_tokens" in attrs
                    else max(0, n("cache_creation_tokens") - one_hour))
    cost = attrs.get("cost_usd_micros")
    return TelemetryRequest(
        request_id=str(attrs["request_id"]),
        ts=timestamp(attrs.get("event.timestamp")),
        model=str(attrs.get("model") or ""),
        query_source=str(attrs.get("query_source") or ""),
        tokens=Tokens(input=n("input_tokens"), output=n("output_tokens"),
                      cache_write_5m=five_minutes, cache_write_1h=one_hour,
                      cache_read=n("cache_read_tokens")),
        agent_cost_micros=n("cost_usd_micros") if cost is not None else None,
    )


def _list(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _attributes(items: Any) -> dict[str, Any]:
    return {str(a.get("key")): _value(a.get("value")) for a in _list(items)}


def _value(value: Any) -> Any:
    """An OTLP ``AnyValue`` (64-bit ints arrive as strings in OTLP/JSON)."""
    if not isinstance(value, dict) or not value:
        return None
    kind, inner = next(iter(value.items()))
    if kind == "intValue":
        try:
            return int(inner)
        except (TypeError, ValueError):
            return None
    if kind in ("stringValue", "boolValue", "doubleValue"):
        return inner
    return None
