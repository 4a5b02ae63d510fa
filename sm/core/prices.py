"""What tokens cost, and how large each model's context window is.

Prices are per million tokens, kept as integer micro-dollars per million tokens so that
a cost is exact integer arithmetic: ``tokens × price`` summed over the five kinds of
token, rounded once (half up) to whole micro-dollars. The shipped table is dated
(``AS_OF``) and documented in docs/usage.md; ``usage.prices`` in config.yaml overrides
or extends it per model. A model in neither is *unpriced*: its tokens are counted and
reported, its cost is never guessed.

A model id matches a table key exactly, or after dropping what providers add around
the name: a provider prefix (``anthropic.``, ``openai/``), a date suffix
(``-20251001``, ``@20251001``, ``-2025-10-01``), a ``[1m]`` tag, a Bedrock ``-v1:0``.
Never by prefix alone: ``claude-opus-5-5`` is not ``claude-opus-5``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sm.agents.usage import Tokens
from sm.errors import InvalidInput

AS_OF = "2026-12-03"
KINDS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
_MICRO = 1_000_000


@dataclass(frozen=True)
class Price:
    """Micro-dollars per million tokens of each kind."""

    input: int
    output: int
    cache_write_5m: int
    cache_write_1h: int
    cache_read: int

    @classmethod
    def usd(cls, *per_mtok: float) -> Price:
        """From USD per million tokens, in ``KINDS`` order."""
        return cls(*(round(v * _MICRO) for v in per_mtok))

    def scaled(self, tokens: Tokens) -> int:
        """Cost × 10⁶ in micro-dollars (not yet rounded)."""
        return (tokens.input * self.input + tokens.output * self.output
                + tokens.cache_write_5m * self.cache_write_5m
                + tokens.cache_write_1h * self.cache_write_1h
                + tokens.cache_read * self.cache_read)

    def cost(self, tokens: Tokens) -> int:
        """Micro-dollars, rounded half up."""
        return micros(self.scaled(tokens))

    def public(self) -> dict[str, float]:
        return {k: getattr(self, k) / _MICRO for k in KINDS}


def micros(scaled: int) -> int:
    return (scaled + _MICRO // 2) // _MICRO


_U = Price.usd
# USD per million tokens: input, output, 5-minute cache write, 1-hour cache write, cache
# read. Anthropic: platform.claude.com pricing and model pages; OpenAI: its pricing page
# (cache writes at the input price where none is published). As of AS_OF.
SHIPPED: dict[str, Price] = {
    "claude-fable-5-1": _U(10, 50, 12.5, 20, 0.25),
    "claude-fable-5": _U(10, 50, 12.5, 20, 1.0),
    "claude-opus-5-5": _U(4, 20, 5, 8, 0.20),
    "claude-opus-5": _U(5, 25, 6.25, 10, 0.50),
    "claude-opus-4-8": _U(5, 25, 6.25, 10, 0.50),
    "claude-opus-4-7": _U(5, 25, 6.25, 10, 0.50),
    "claude-opus-4-6": _U(5, 25, 6.25, 10, 0.50),
    "claude-opus-4-5": _U(5, 25, 6.25, 10, 0.50),
    "claude-opus-4-1": _U(15, 75, 18.75, 30, 1.50),
    "claude-opus-4": _U(15, 75, 18.75, 30, 1.50),
    "claude-sonnet-5-5": _U(2, 10, 2.5, 4, 0.10),
    "claude-sonnet-5": _U(2, 10, 2.5, 4, 0.20),
    "claude-sonnet-4-6": _U(3, 15, 3.75, 6, 0.30),
    "claude-sonnet-4-5": _U(3, 15, 3.75, 6, 0.30),
    "claude-sonnet-4": _U(3, 15, 3.75, 6, 0.30),
    "claude-haiku-5-5": _U(0.10, 0.50, 0.125, 0.20, 0.01),  # prompts up to 100k tokens
    "claude-haiku-4-5": _U(1, 5, 1.25, 2, 0.10),
    "claude-haiku-3-5": _U(0.80, 4, 1, 1.6, 0.08),
    "gpt-6.1-sol": _U(2, 10, 2.5, 2.5, 0.10),  # prompts up to 272k tokens
    "gpt-6-sol": _U(2, 10, 2.5, 2.5, 0.20),
    "gpt-6-luna": _U(0.10, 0.50, 0.125, 0.125, 0.01),
    "gpt-5.5": _U(5, 30, 5, 5, 0.50),
    "gpt-5.4": _U(2.5, 15, 2.5, 2.5, 0.25),
    "gpt-5.4-mini": _U(0.75, 4.5, 0.75, 0.75, 0.075),
    "gpt-5": _U(1.25, 10, 1.25, 1.25, 0.125),
    "gpt-5-codex": _U(1.25, 10, 1.25, 1.25, 0.125),
    "gpt-5-mini": _U(0.25, 2, 0.25, 0.25, 0.025),
}
# Context windows in tokens. Codex reports its model's window itself; Claude Code does not.
WINDOWS: dict[str, int] = {
    "claude-fable-5-1": 1_000_000, "claude-fable-5": 1_000_000,
    "claude-opus-5-5": 1_000_000, "claude-opus-5": 1_000_000,
    "claude-sonnet-5-5": 1_000_000, "claude-sonnet-5": 1_000_000,
    "claude-haiku-5-5": 1_000_000,
    "claude-opus-4-8": 200_000, "claude-opus-4-7": 200_000, "claude-opus-4-6": 200_000,
    "claude-opus-4-5": 200_000, "claude-opus-4-1": 200_000, "claude-opus-4": 200_000,
    "claude-sonnet-4-6": 200_000, "claude-sonnet-4-5": 200_000, "claude-sonnet-4": 200_000,
    "claude-haiku-4-5": 200_000, "claude-haiku-3-5": 200_000,
}

_PREFIX = re.compile(r"^(?:.*[/.](?=claude-|gpt-|o\d))")
_SUFFIX = re.compile(r"(?:\[[^\]]*\]|[-@]\d{8}|-\d{4}-\d{2}-\d{2}|-v\d+(?::\d+)?)+$")


def base_model(model: str) -> str:
    """``model`` without a provider prefix, date suffix, ``[…]`` tag or version tag."""
    return _SUFFIX.sub("", _PREFIX.sub("", model))


class PriceTable:
    """The shipped prices and windows with ``usage.prices`` / ``usage.context_windows``
    over them. Raises InvalidInput for an entry that is not a mapping of non-negative
    numbers, or a new model without all five prices."""

    def __init__(
        self, prices: Mapping[str, Any] | None = None, windows: Mapping[str, Any] | None = None
    ) -> None:
        self.prices = dict(SHIPPED)
        for model, entry in (prices or {}).items():
            self.prices[model] = _price(model, entry, self.prices.get(model))
        self.windows = dict(WINDOWS)
        for model, size in (windows or {}).items():
            if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
                raise InvalidInput(
                    f"usage.context_windows.{model}: {size!r} is not a positive token count")
            self.windows[model] = size

    def price(self, model: str) -> Price | None:
        if model in self.prices:
            return self.prices[model]
        return self.prices.get(base_model(model))

    def window(self, model: str) -> int | None:
        if model in self.windows:
            return self.windows[model]
        return self.windows.get(base_model(model))

    def cost(self, model: str, tokens: Tokens) -> int | None:
        """Micro-dollars, or None for an unpriced model."""
        price = self.price(model)
        return None if price is None else price.cost(tokens)


def _price(model: str, entry: Any, shipped: Price | None) -> Price:
    if not isinstance(entry, Mapping):
        raise InvalidInput(f"usage.prices.{model}: expected a mapping of {', '.join(KINDS)}")
    unknown = set(entry) - set(KINDS)
    if unknown:
        raise InvalidInput(f"usage.prices.{model}: unknown key {sorted(unknown)[0]!r} "
                           f"(expected {', '.join(KINDS)})")
    values: dict[str, int] = {}
    for kind in KINDS:
        value = entry.get(kind)
        if value is None:
            if shipped is None:
                raise InvalidInput(f"usage.prices.{model}: {kind} is missing (a model sm "
                                   f"ships no price for needs all of {', '.join(KINDS)})")
            values[kind] = getattr(shipped, kind)
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise InvalidInput(f"usage.prices.{model}.{kind}: {value!r} is not a price "
                               "(USD per million tokens)")
        values[kind] = round(value * _MICRO)
    return Price(**values)
