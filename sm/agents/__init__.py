"""Agent providers, one module each. ``providers(settings)`` is the registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from sm.agents.base import Launch, LaunchSpec, Provider
from sm.errors import NotFound

if TYPE_CHECKING:
    from sm.config import Settings

NAMES = ("claude", "codex", "shell", "scripted")


def providers(settings: Settings) -> dict[str, Provider]:
    from sm.agents.claude import Claude
    from sm.agents.codex import Codex
    from sm.agents.scripted import Scripted
    from sm.agents.shell import Shell

    return {
        "claude": Claude(settings.claude),
        "codex": Codex(settings.codex),
        "shell": Shell(),
        "scripted": Scripted(settings.scripted),
    }


def get(registry: Mapping[str, Provider], name: str) -> Provider:
    try:
        return registry[name]
    except KeyError:
        raise NotFound(
            f"unknown provider {name!r}; expected one of: {', '.join(sorted(registry))}"
        ) from None


__all__ = ["Launch", "LaunchSpec", "Provider", "providers", "get", "NAMES"]
