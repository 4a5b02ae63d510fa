"""sm's MCP server: the agent-facing operations as MCP tools, served by the daemon.

``tools.py`` (the tools, with the SDK), ``http.py`` (``/mcp`` on the daemon's socket).
``sm mcp`` (``sm/cli/mcp_relay.py``) relays an agent CLI's stdio to ``/mcp``.
"""
