"""The sm command line: a stdlib-only fast path for agent-facing commands, typer for
the human surface. No business logic lives here."""
