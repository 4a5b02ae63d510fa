"""``sm mcp``: sm's MCP server on stdin/stdout, the process an agent's CLI starts.

It relays: each JSON-RPC request read from stdin (one per line) is POSTed to the daemon's
``/mcp`` with the stdlib client, and the answer written to stdout as one line. The daemon
serves the tools (``sm/mcp/tools.py``) and proves who calls exactly as for any ``sm``
command: the kernel places this process under its agent's pane, the session token
(``SM_SESSION_TOKEN_FILE``) backs that up — so a client of ``sm mcp`` can never act as
another session. Requests are relayed concurrently (a blocking ``wait`` holds up no
``send``); notifications from the client are not relayed (the stateless server has
nothing for them to act on). Stdlib only: an agent starts one of these each time.
"""

from __future__ import annotations

import json
import sys
import threading

from sm.client import Client
from sm.errors import SmError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

PATH = "/mcp"
SERVER_ERROR = -32000  # JSON-RPC: the server could not serve the request (sm's error)
PARSE_ERROR = -32700


class Relay:
    """Relays requests to the daemon; writes each answer as one line to ``out``."""

    def __init__(self, client: Client, out: BinaryIO) -> None:
        self.client = client
        self.out = out
        self.write_lock = threading.Lock()
        self.version = ""  # the protocol version initialize settled on

    def handle(self, line: bytes) -> threading.Thread | None:
        """Start relaying one line; returns the thread doing it (None: nothing to do)."""
        if not line.strip():
            return None
        try:
            msg = json.loads(line)
        except ValueError as exc:
            self.write({"jsonrpc": "2.0", "id": None,
                        "error": {"code": PARSE_ERROR, "message": f"not JSON: {exc}"}})
            return None
        if not isinstance(msg, dict) or "method" not in msg or "id" not in msg:
            return None  # a notification, or an answer to a request this server never makes
        thread = threading.Thread(target=self.relay, args=(msg, line), daemon=True)
        thread.start()
        return thread

    def relay(self, msg: dict[str, Any], line: bytes) -> None:
        headers = {"Accept": "application/json, text/event-stream"}
        if self.version:
            headers["MCP-Protocol-Version"] = self.version
        try:
            status, raw = self.client.send("POST", PATH, line.strip(), headers)
        except SmError as exc:
            self.write(_error(msg["id"], exc.code, exc.message))
            return
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = None
        if isinstance(answer, dict) and "jsonrpc" in answer:
            if answer.get("id") is None:
                answer["id"] = msg["id"]
            if msg.get("method") == "initialize":
                self.version = str((answer.get("result") or {}).get("protocolVersion") or "")
            self.write(answer)
        elif isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            err = answer["error"]  # sm's own error: the identity was refused
            self.write(_error(msg["id"], str(err.get("code")), str(err.get("message"))))
        else:
            self.write(_error(msg["id"], "unavailable",
                              f"the sm daemon answered {status} with no JSON-RPC answer"))

    def write(self, msg: dict[str, Any]) -> None:
        data = json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        with self.write_lock:
            self.out.write(data)
            self.out.flush()


def _error(request_id: Any, code: str, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id,
            "error": {"code": SERVER_ERROR, "message": f"{code}: {message}",
                      "data": {"code": code}}}


def run() -> int:
    """Serve until stdin ends. Blocking tools (``wait``, ``lock`` with a wait) hold a
    request as long as they need: no client-side timeout. The relay never starts a
    daemon: it serves an agent the daemon started, so with no daemon a tool call fails
    (like a hook, it must not bring one up while sm is being stopped)."""
    relay = Relay(Client(timeout=None, autostart=False), sys.stdout.buffer)
    try:
        for line in sys.stdin.buffer:
            relay.handle(line)
    except KeyboardInterrupt:
        return 130
    return 0
