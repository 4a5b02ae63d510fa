"""sm mcp: sm's MCP server on stdin/stdout (the relay is ``mcp_relay.py``, stdlib only)."""

from __future__ import annotations

import typer

from sm.cli.typer_help import command


def mcp() -> None:
    """Serve sm's MCP tools on stdin/stdout, as this session (for an agent's CLI).

    sm configures it for the agents it spawns (mcp.agents); the tools are the
    agent-facing operations: send, spawn, wait, status, lock, ask, ... (docs/mcp.md).
    """
    from sm.cli.mcp_relay import run

    raise typer.Exit(run())


def register(app: typer.Typer) -> None:
    command(app)(mcp)
