"""The script that drives the ``scripted`` agent: what it does for each prompt.

A script is YAML::

    default:                  # actions when no rule matches
      - say: "ok"
    rules:
      - match: "build"        # substring, case-sensitive; or regex: "..."
        actions:
          - say: "Building…"
          - sleep: 0.5
          - run: "make"
          - write: {path: notes.txt, content: "hi"}
          - permission: Bash
          - crash: 3
          - exit: 0
          - usage: {model: claude-sonnet-4-5, input: 100, output: 20}
          - fail: {error: rate_limit, reset_in: 3}

A test knob, at the top level: ``start_limit: {max: 3, within: 2, ledger: PATH}`` makes
a start fail (``API Error: 429``, exit status 1, before SessionStart) when ``max`` other
agents sharing ``ledger`` started within the last ``within`` seconds — a service that
refuses bursts of starts.

``load_script`` validates everything up front and raises ``ScriptError`` whose message
names the source, the rule and the bad value. ``Script.plan`` picks the actions for a
prompt with ``{prompt}`` and ``{session_id}`` filled in. Stdlib only, plus PyYAML when
parsing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, cast


class ScriptError(ValueError):
    """A script that cannot be used; ``str()`` is a one-line message naming the source."""


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Run:
    command: str


@dataclass(frozen=True)
class Write:
    path: str
    content: str


@dataclass(frozen=True)
class Permission:
    tool: str


@dataclass(frozen=True)
class Usage:
    """One API response's usage, written to the transcript the way Claude Code does: one
    line per content block (``blocks``), each with the same usage, the last with the
    final ``output`` (the others with a partial count)."""

    model: str
    input: int = 0
    output: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    cache_read: int = 0
    blocks: int = 1


@dataclass(frozen=True)
class Fail:
    """End the turn with an API error, as Claude Code does: StopFailure (``error``, the
    message as ``error_details`` and ``last_assistant_message``) instead of Stop. With
    ``reset_in`` the message ends ``|<epoch seconds>``, the reset of a usage limit."""

    error: str = "rate_limit"
    message: str = ""
    reset_in: float | None = None


@dataclass(frozen=True)
class Crash:
    code: int


@dataclass(frozen=True)
class Exit:
    code: int


Action = Say | Sleep | Run | Write | Permission | Usage | Fail | Crash | Exit


@dataclass(frozen=True)
class Rule:
    """``pattern`` is a substring, or a regular expression when ``regex`` is set."""

    pattern: str
    actions: tuple[Action, ...]
    regex: re.Pattern[str] | None = None

    def matches(self, prompt: str) -> bool:
        if self.regex is not None:
            return self.regex.search(prompt) is not None
        return self.pattern in prompt


@dataclass(frozen=True)
class StartLimit:
    """A test knob: a start fails when ``max`` other agents sharing ``ledger`` started
    within the last ``within`` seconds (wall time, not scaled by SM_SCRIPTED_SPEED)."""

    max: int
    within: float
    ledger: str


@dataclass(frozen=True)
class Script:
    rules: tuple[Rule, ...] = ()
    default: tuple[Action, ...] | None = None
    start_limit: StartLimit | None = None

    def plan(self, prompt: str, session_id: str) -> tuple[Action, ...]:
        """The actions for ``prompt`` (first matching rule, else the default), with
        placeholders filled in. Pure."""
        for rule in self.rules:
            if rule.matches(prompt):
                return tuple(fill(action, prompt, session_id) for action in rule.actions)
        if self.default is None:
            return (Say(f"ok: {prompt[:60]}"),)
        return tuple(fill(action, prompt, session_id) for action in self.default)


_PLACEHOLDER = re.compile(r"\{(prompt|session_id)\}")


def expand(template: str, prompt: str, session_id: str) -> str:
    """Replace ``{prompt}`` and ``{session_id}`` in one pass; other braces stay as typed,
    and braces inside the prompt are never expanded."""
    values = {"prompt": prompt, "session_id": session_id}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def fill(action: Action, prompt: str, session_id: str) -> Action:
    """``action`` with placeholders expanded in each of its string fields."""
    changes = {
        f.name: expand(value, prompt, session_id)
        for f in fields(action)
        if isinstance(value := getattr(action, f.name), str)
    }
    return cast(Action, replace(cast(Any, action), **changes)) if changes else action


def load_script(text: str, source: str) -> Script:
    """Parse and validate a YAML script. Raises ScriptError (message starts ``source:``)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        doc = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScriptError(f"{source}: invalid YAML{where}: {problem}") from None
    try:
        return _script(doc)
    except ScriptError as exc:
        raise ScriptError(f"{source}: {exc}") from None


def read_script(path: str) -> Script:
    """Read and load the script file at ``path``. Raises ScriptError."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ScriptError(f"{path}: cannot read: {reason}") from None
    return load_script(text, path)


def _script(doc: object) -> Script:
    if doc is None:
        return Script()
    if not isinstance(doc, dict):
        raise ScriptError(f"expected a mapping with 'rules' and/or 'default', got {_kind(doc)}")
    _no_extra_keys(doc, {"rules", "default", "start_limit"}, "script")
    rules = doc.get("rules") or []
    if not isinstance(rules, list):
        raise ScriptError(f"'rules' must be a list, got {_kind(rules)}")
    default = None
    if "default" in doc:
        default = _actions(doc["default"] or [], "default")
    limit = None
    if doc.get("start_limit") is not None:
        try:
            limit = _start_limit(doc["start_limit"])
        except (TypeError, ValueError) as exc:
            raise ScriptError(f"start_limit: {exc}") from None
    return Script(tuple(_rule(r, i) for i, r in enumerate(rules, 1)), default, limit)


def _start_limit(value: object) -> StartLimit:
    if not isinstance(value, dict):
        raise TypeError(f"expected a mapping with 'max', 'within' and 'ledger', got {value!r}")
    extra = sorted(str(k) for k in value if k not in ("max", "within", "ledger"))
    if extra:
        raise ValueError(f"unknown key {extra[0]!r} (expected: ledger, max, within)")
    most = value.get("max")
    if isinstance(most, bool) or not isinstance(most, int) or most < 1:
        raise ValueError(f"max: expected a whole number of starts, at least 1, got {most!r}")
    ledger = _text(value.get("ledger"))
    if not ledger:
        raise ValueError("ledger: expected the path of a file the agents share")
    return StartLimit(most, _seconds(value.get("within")), ledger)


def _rule(doc: object, number: int) -> Rule:
    where = f"rule {number}"
    if not isinstance(doc, dict):
        raise ScriptError(f"{where}: expected a mapping with 'match' and 'actions', got {doc!r}")
    _no_extra_keys(doc, {"match", "regex", "actions"}, where)
    if ("match" in doc) == ("regex" in doc):
        raise ScriptError(f"{where}: needs exactly one of 'match' or 'regex'")
    pattern = doc.get("match", doc.get("regex"))
    if not isinstance(pattern, str):
        raise ScriptError(f"{where}: the pattern must be a string, got {pattern!r}")
    regex = None
    if "regex" in doc:
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ScriptError(f"{where}: bad regex {pattern!r}: {exc}") from None
    if "actions" not in doc:
        raise ScriptError(f"{where}: missing 'actions'")
    return Rule(pattern, _actions(doc["actions"], where), regex)


def _actions(doc: object, where: str) -> tuple[Action, ...]:
    if not isinstance(doc, list):
        raise ScriptError(f"{where}: 'actions' must be a list, got {_kind(doc)}")
    return tuple(_action(item, where) for item in doc)


def _action(doc: object, where: str) -> Action:
    if not isinstance(doc, dict) or len(doc) != 1:
        raise ScriptError(f"{where}: each action is a one-key mapping like 'say: hi', got {doc!r}")
    ((name, value),) = doc.items()
    build = _BUILDERS.get(name)
    if build is None:
        expected = ", ".join(_BUILDERS)
        raise ScriptError(f"{where}: unknown action {name!r} (expected one of: {expected})")
    try:
        return build(value)
    except (TypeError, ValueError) as exc:
        raise ScriptError(f"{where}: {name}: {exc}") from None


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"expected a non-negative number of seconds, got {value!r}")
    return float(value)


def _code(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
        raise ValueError(f"expected an exit code from 0 to 255, got {value!r}")
    return value


def _write(value: object) -> Write:
    if not isinstance(value, dict):
        raise TypeError(f"expected a mapping with 'path' and 'content', got {value!r}")
    extra = sorted(str(k) for k in value if k not in ("path", "content"))
    if extra:
        raise ValueError(f"unknown key {extra[0]!r} (expected: content, path)")
    return Write(_text(value.get("path")), _text(value.get("content", "")))


def _usage(value: object) -> Usage:
    if not isinstance(value, dict):
        raise TypeError(f"expected a mapping with 'model' and token counts, got {value!r}")
    known = [f.name for f in fields(Usage)]
    extra = sorted(str(k) for k in value if k not in known)
    if extra:
        raise ValueError(f"unknown key {extra[0]!r} (expected: {', '.join(sorted(known))})")
    counts = {}
    for name in known[1:]:
        number = value.get(name, 1 if name == "blocks" else 0)
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise ValueError(f"{name}: expected a non-negative integer, got {number!r}")
        counts[name] = number
    return Usage(_text(value.get("model")), **counts)


def _fail(value: object) -> Fail:
    if isinstance(value, str):
        value = {"error": value}
    if not isinstance(value, dict):
        raise TypeError(f"expected an error name or a mapping with 'error', 'message', "
                        f"'reset_in', got {value!r}")
    extra = sorted(str(k) for k in value if k not in ("error", "message", "reset_in"))
    if extra:
        raise ValueError(f"unknown key {extra[0]!r} (expected: error, message, reset_in)")
    error = _text(value.get("error", "rate_limit"))
    if not re.fullmatch(r"[a-z_]+", error):
        raise ValueError(f"error: expected a name like rate_limit, got {error!r}")
    reset = value.get("reset_in")
    return Fail(error, _text(value.get("message", "")),
                None if reset is None else _seconds(reset))


_BUILDERS: Mapping[str, Callable[[Any], Action]] = {
    "say": lambda v: Say(_text(v)),
    "sleep": lambda v: Sleep(_seconds(v)),
    "run": lambda v: Run(_text(v)),
    "write": _write,
    "permission": lambda v: Permission(_text(v)),
    "usage": _usage,
    "fail": _fail,
    "crash": lambda v: Crash(_code(v)),
    "exit": lambda v: Exit(_code(v)),
}


def _no_extra_keys(doc: Mapping[Any, Any], allowed: set[str], where: str) -> None:
    extra = sorted(str(k) for k in doc if k not in allowed)
    if extra:
        expected = ", ".join(sorted(allowed))
        raise ScriptError(f"{where}: unknown key {extra[0]!r} (expected: {expected})")


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__
