"""The caller's pid, from the kernel, in every request's ASGI scope.

uvicorn serves the Unix socket sm binds; its HTTP protocol object sees the connection's
transport, the routes do not. ``protocol_class()`` is uvicorn's h11 protocol that reads
the peer's pid (``SO_PEERCRED``) once per connection and puts it in the scope of each
request on it, under ``PEER_PID`` (absent when the kernel cannot say);
``ws_protocol_class()`` does the same for WebSocket connections (wsproto).
"""

from __future__ import annotations

from typing import Any

from sm.runtime.procs import peer_pid

PEER_PID = "sm.peer_pid"


def protocol_class() -> type:
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class PeerProtocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self.app = _with_peer(self.app, transport)

    return PeerProtocol


def ws_protocol_class() -> type:
    """The same for WebSocket connections (an upgrade hands the transport to these)."""
    from uvicorn.protocols.websockets.wsproto_impl import WSProtocol

    class PeerWSProtocol(WSProtocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self.app = _with_peer(self.app, transport)

    return PeerWSProtocol


def _with_peer(app: Any, transport: Any) -> Any:
    pid = peer_pid(transport.get_extra_info("socket"))

    async def with_peer(scope: Any, receive: Any, send: Any) -> None:
        if pid is not None:
            scope[PEER_PID] = pid
        await app(scope, receive, send)

    return with_peer
