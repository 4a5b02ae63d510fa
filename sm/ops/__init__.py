"""Operations: one class per group, one async method per user-visible operation.

Each takes the ``Caller`` and a frozen request dataclass, decides whether the caller may
(and how), composes core, and returns a typed result. Every adapter — the HTTP routes,
the CLI through them, and later MCP tools — calls these, never core directly.
"""
