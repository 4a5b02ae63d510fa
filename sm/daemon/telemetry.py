"""The OpenTelemetry receiver: OTLP/HTTP with JSON bodies, on loopback, logs only.

When ``usage.telemetry`` is on, sm's Claude Code agents export their log events here
(``POST /v1/logs``, ``Authorization: Bearer <secret>``, each export tagged with the sm
session id). Only ``api_request`` and ``api_error`` records are kept; the rest of the
export is acknowledged and dropped. The secret lives in ``$SM_HOME/telemetry.secret``
(0600) so agents outlive a daemon restart; the port does too when
``usage.telemetry_port`` is set. Same-uid processes can read an agent's environment,
so the secret keeps other users out, not other processes of the same user.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
from pathlib import Path

from sm.agents.base import Telemetry
from sm.agents.claude_usage import telemetry as claude_telemetry
from sm.core.usage import Meter
from sm.private import private_secret

log = logging.getLogger("sm.telemetry")

_MAX_BODY = 16 * 1024 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            411: "Length Required", 413: "Payload Too Large"}


def secret_for(home: Path) -> str:
    """The receiver's secret, created once per SM_HOME."""
    made = private_secret(home / "telemetry.secret",
                          lambda: secrets.token_urlsafe(24).encode(), lambda b: bool(b.strip()))
    return made.decode().strip()


class TelemetryReceiver:
    def __init__(self, meter: Meter, *, secret: str, port: int = 0,
                 host: str = "127.0.0.1") -> None:
        self.meter = meter
        self.secret = secret
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    @property
    def telemetry(self) -> Telemetry:
        """What an agent needs to export here."""
        return Telemetry(f"http://{self.host}:{self.port}/v1/logs", self.secret)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("telemetry receiver on %s:%s", self.host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request, *lines = head.decode("latin-1").split("\r\n")
                method, _, rest = request.partition(" ")
                path = rest.split(" ", 1)[0].split("?", 1)[0]
                headers = {}
                for line in lines:
                    name, _, value = line.partition(":")
                    if name:
                        headers[name.strip().lower()] = value.strip()
                length = headers.get("content-length")
                if length is None or not length.isdigit():
                    await _respond(writer, 411)
                    return
                if int(length) > _MAX_BODY:
                    await _respond(writer, 413)
                    return
                body = await reader.readexactly(int(length))
                await _respond(writer, await self._handle(method, path, headers, body))
                if headers.get("connection", "").lower() == "close":
                    return
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return
        finally:
            writer.close()

    async def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> int:
        if method != "POST" or path != "/v1/logs":
            return 404
        if not hmac.compare_digest(headers.get("authorization", ""), f"Bearer {self.secret}"):
            return 401
        try:
            if headers.get("content-encoding", "").lower() == "gzip":
                import gzip

                body = gzip.decompress(body)
            doc = json.loads(body) if len(body) < 256 * 1024 else await asyncio.to_thread(
                json.loads, body)
        except (OSError, ValueError, EOFError):
            return 400
        for session_id, (requests, errors) in claude_telemetry(doc).items():
            if not await self.meter.record_telemetry(session_id, requests, errors):
                log.debug("telemetry for unknown session %s dropped", session_id)
        return 200


async def _respond(writer: asyncio.StreamWriter, status: int) -> None:
    body = b"{}" if status == 200 else b""
    writer.write(
        f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    )
    await writer.drain()
