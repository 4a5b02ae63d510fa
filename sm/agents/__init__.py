"""Agent providers, one module each. ``providers(settings)`` is the registry."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sm.agents.base import Agent, Intake, Launch, LaunchSpec, Provider, Telemetry
from sm.agents.usage import TranscriptReader
from sm.errors import NotFound

if TYPE_CHECKING:
    from sm.config import Settings

NAMES = ("claude", "codex", "shell", "scripted")


def providers(settings: Settings, telemetry: Telemetry | None = None) -> dict[str, Provider]:
    """Every provider; ``telemetry``: where Claude Code exports its OpenTelemetry events."""
    from sm.agents.claude import Claude
    from sm.agents.codex import Codex
    from sm.agents.scripted import Scripted
    from sm.agents.shell import Shell

    return {
        "claude": Claude(settings.claude, telemetry),
        "codex": Codex(settings.codex),
        "shell": Shell(),
        "scripted": Scripted(settings.scripted),
    }


def intake_of(provider: str) -> Intake:
    """How a provider's program takes messages (a class attribute: no instance needed,
    so the queue is built before the providers). Asked once per accepted message."""
    return _intakes().get(provider, Intake.PROMPT)


@functools.cache
def _intakes() -> Mapping[str, Intake]:
    from sm.agents.claude import Claude
    from sm.agents.codex import Codex
    from sm.agents.scripted import Scripted
    from sm.agents.shell import Shell

    classes: dict[str, type[Agent]] = {
        "claude": Claude, "codex": Codex, "shell": Shell, "scripted": Scripted}
    return {name: cls.intake for name, cls in classes.items()}


def usage_readers() -> dict[str, TranscriptReader]:
    """Per provider, the reader of its own usage records (shell has none)."""
    from sm.agents.claude_usage import ClaudeTranscripts
    from sm.agents.codex_usage import CodexRollouts

    return {
        "claude": ClaudeTranscripts(),
        "codex": CodexRollouts(),
        "scripted": ClaudeTranscripts(root="transcripts", patterns=("*.jsonl",)),
    }


def get(registry: Mapping[str, Provider], name: str) -> Provider:
    try:
        return registry[name]
    except KeyError:
        raise NotFound(
            f"unknown provider {name!r}; expected one of: {', '.join(sorted(registry))}"
        ) from None


__all__ = ["Launch", "LaunchSpec", "Provider", "Telemetry", "providers", "usage_readers", "get",
           "NAMES"]
