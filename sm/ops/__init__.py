"""Operations: one class per group, one async method per user-visible operation
(``Caller`` + a typed request → a typed result). Every rule deciding whether and how
lives here; adapters (HTTP routes, the CLI, Telegram) only translate."""
