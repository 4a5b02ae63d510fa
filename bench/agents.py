"""The real agents through sm: Claude Code and Codex against local scripted model servers.

    .venv/bin/python bench/agents.py [--runs 5] [--agents claude,codex]

Per agent: spawn → ready (the session's first idle), send → receipt (the agent's own
UserPromptSubmit), send → Stop (a one-line reply). Times are the daemon's own
timestamps (the message row, the state and hook events), so polling adds nothing.
Needs the pinned CLIs (scripts/install-agent-clis.sh). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import agents  # noqa: E402
from _harness import daemon, line, stats, wait_until  # noqa: E402
from model_servers import AnthropicServer, OpenAIResponsesServer  # noqa: E402

from sm.client import Client  # noqa: E402


def _env(home: str, claude_url: str, openai_url: str) -> dict[str, str]:
    return {
        "HOME": home,  # no agent reads the real user's login
        "ANTHROPIC_BASE_URL": claude_url,
        "ANTHROPIC_API_KEY": agents.FAKE_ANTHROPIC_KEY,
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "IS_SANDBOX": "1",
        "OPENAI_API_KEY": agents.FAKE_OPENAI_KEY,
        "SM_CLAUDE_BINARY": str(agents.claude_bin()),
        "SM_CLAUDE_PERMISSION_MODE": "bypassPermissions",
        "SM_CODEX_BINARY": str(agents.codex_bin()),
        "SM_CODEX_MODEL": "gpt-5-codex",
        "SM_CODEX_BASE_URL": openai_url + "/v1",
        "SM_CODEX_APPROVAL_POLICY": "never",
        "SM_CODEX_SANDBOX_MODE": "danger-full-access",
    }


def _events(client: Client, sid: str, kind: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get("/events", session=sid, kind=kind,
                                             limit=1000)["items"]
    return items


def _spawn(client: Client, provider: str, name: str, cwd: str) -> tuple[str, float]:
    """Spawn and wait for idle; returns the id and created → first idle, in ms."""
    rec = client.post("/sessions", {"provider": provider, "name": name, "cwd": cwd})
    sid = str(rec["id"])

    def idle() -> dict[str, Any] | None:
        return next((e for e in _events(client, sid, "state")
                     if e["payload"]["to"] == "idle"), None)

    wait_until(lambda: idle() is not None, timeout=60, interval=0.02)
    first = idle()
    assert first is not None
    return sid, (first["ts"] - rec["created_at"]) * 1000


def _turn(client: Client, sid: str, body: str) -> tuple[float, float]:
    """Send one message into the idle agent; returns (accepted → receipt, accepted →
    Stop) in ms."""
    after = _events(client, sid, "hook")
    last = after[-1]["seq"] if after else 0
    msg = client.post("/messages", {"targets": [sid], "body": body})["items"][0]
    wait_until(lambda: client.get(f"/messages/{msg['id']}")["state"] in ("delivered", "failed"),
               timeout=30, interval=0.01)
    m = client.get(f"/messages/{msg['id']}")
    if m["state"] != "delivered":
        raise SystemExit(f"message {m['id']} {m['state']}: {m['reason']}")

    def stop() -> dict[str, Any] | None:
        hooks = client.get("/events", session=sid, kind="hook", after=last)["items"]
        return next((e for e in hooks if e["payload"]["event"] == "Stop"), None)

    wait_until(lambda: stop() is not None, timeout=30, interval=0.01)
    ended = stop()
    assert ended is not None
    wait_until(lambda: client.get(f"/sessions/{sid}")["state"] == "idle", timeout=30,
               interval=0.01)
    return (m["delivered_at"] - m["created_at"]) * 1000, (ended["ts"] - m["created_at"]) * 1000


def bench(provider: str, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="smb-home-") as home, \
            AnthropicServer(default_reply="pong") as claude_api, \
            OpenAIResponsesServer(default_reply="pong") as openai_api, \
            daemon(**_env(home, claude_api.url, openai_api.url)) as env:
        client = Client(home=env["SM_HOME"], token="", session_id="")
        ready, receipt, stop = [], [], []
        for i in range(runs):
            sid, ms = _spawn(client, provider, f"{provider}-{i}", home)
            ready.append(ms)
            for k in range(2):
                r, s = _turn(client, sid, f"ping {i}.{k}")
                receipt.append(r)
                stop.append(s)
            client.post(f"/sessions/{sid}/kill")
        line(f"{provider}: spawn → ready", stats(ready))
        line(f"{provider}: send → receipt (UserPromptSubmit)", stats(receipt))
        line(f"{provider}: send → Stop (one-line reply)", stats(stop))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="agents spawned per provider")
    parser.add_argument("--agents", default="claude,codex")
    args = parser.parse_args()
    found = {"claude": agents.claude_bin(), "codex": agents.codex_bin()}
    for provider in args.agents.split(","):
        if found.get(provider) is None:
            print(f"{provider}: not installed (scripts/install-agent-clis.sh); skipped")
            continue
        started = time.perf_counter()
        bench(provider, args.runs)
        print(f"  ({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
