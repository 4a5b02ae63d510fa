"""The environment an agent gets: an allowlist, never the daemon's whole environment.

The daemon may hold secrets agents were not given (``SM_TELEGRAM_TOKEN``, API keys of
other providers, cloud credentials). An agent gets:

* ``BASE`` — what any program needs to run as the user (home, locale, terminal, proxies,
  CA bundles, git's author identity);
* its provider's own (``Provider.env_passed``: Claude Code ``ANTHROPIC_*``, ``CLAUDE_*``
  and its ``DISABLE_*`` switches; Codex ``OPENAI_*`` and ``codex.env_key``);
* what the user lists in ``agents.env``;
* what sm sets itself (``SM_HOME``, ``PATH``, its identity, the provider's launch env).

A pattern is a variable name, or a prefix ending in ``*``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

BASE = (
    "HOME", "USER", "LOGNAME", "SHELL", "PATH", "LANG", "LANGUAGE", "LC_*", "TZ", "TMPDIR",
    "TERM", "COLORTERM", "XDG_*", "EDITOR", "VISUAL", "PAGER",
    "http_proxy", "https_proxy", "no_proxy", "all_proxy",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS",
    "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL",
)


def matches(name: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        if pattern.endswith("*"):
            if name.startswith(pattern[:-1]):
                return True
        elif name == pattern:
            return True
    return False


def allowed(environ: Mapping[str, str], *patterns: Iterable[str]) -> dict[str, str]:
    """The variables of ``environ`` that one of ``patterns`` names."""
    every = [p for group in patterns for p in group if p]
    return {k: v for k, v in environ.items() if matches(k, every)}
