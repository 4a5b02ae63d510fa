"""The Telegram bridge's cost: prints figures, asserts nothing.

    .venv/bin/python bench/telegram.py [--runs 30]

Against the fake Bot API on loopback (tests/integration/fake_bot_api.py):
- state change → Telegram message: an agent's turn ends (the ``state`` event of its
  Stop, timestamped by the daemon) until its final text reaches the Bot API;
- agent-to-agent delivery (send → delivered, the message's own timestamps) with the
  bridge on and off, and the ratio;
- the fake Bot API itself: a sendMessage round trip through python-telegram-bot,
  sequential and with 200 in flight.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
from _harness import SM, daemon, line, session_token, sm_json, stats, wait_until  # noqa: E402
from fake_bot_api import FakeBotApi  # noqa: E402


def _session_env(env: dict[str, str], sid: str) -> dict[str, str]:
    token = session_token(env["SM_HOME"], sid)
    return {**env, "SM_SESSION_ID": sid, "SM_SESSION_TOKEN": token}


def _status(env: dict[str, str], ref: str) -> dict[str, object]:
    return sm_json(env, "status", ref)  # type: ignore[return-value]


def _message(env: dict[str, str], mid: str) -> dict[str, object]:
    return sm_json(env, "message", mid)  # type: ignore[return-value]


def _delivery(env: dict[str, str], runs: int) -> list[float]:
    """send → delivered between two scripted agents, in ms (the daemon's timestamps)."""
    a = sm_json(env, "spawn", "scripted", "--name", "alice")
    sm_json(env, "spawn", "scripted", "--name", "bob")
    for name in ("alice", "bob"):
        wait_until(lambda n=name: _status(env, n)["state"] == "idle")
    senv = _session_env(env, a["id"])  # type: ignore[index]
    out = []
    for i in range(runs):
        msg = json.loads(subprocess.run([SM, "send", "bob", f"ping {i}", "--json"], env=senv,
                                        check=True, capture_output=True, text=True).stdout)[0]
        wait_until(lambda mid=msg["id"]: _message(env, mid)["state"] == "delivered",
                   interval=0.005)
        done = _message(env, msg["id"])
        out.append((float(done["delivered_at"]) - float(done["created_at"])) * 1000)
        wait_until(lambda i=i: f"ping {i}" in str(_status(env, "bob")["last_message"]),
                   interval=0.005)
    return out


def _mirror(env: dict[str, str], fake: FakeBotApi, runs: int) -> list[float]:
    """A turn's end (its state event) → the turn's text at the Bot API, in ms."""
    sm_json(env, "spawn", "scripted", "--name", "talker")
    wait_until(lambda: _status(env, "talker")["state"] == "idle")
    out = []
    for i in range(runs):
        word = f"mirror-{i}-{time.time_ns()}"
        subprocess.run([SM, "send", "talker", word], env=env, check=True, capture_output=True)
        call = fake.wait_call("sendMessage", predicate=lambda c, w=word: w in str(
            c.params.get("text")) and "🤖" in str(c.params.get("text")), timeout=30)
        events = sm_json(env, "events", "talker", "-n", "20")
        ends = [e for e in events if e["kind"] == "state"  # type: ignore[index, union-attr]
                and e["payload"]["signal"] == "Stop"]  # type: ignore[index]
        out.append((call.wall - ends[-1]["ts"]) * 1000)  # type: ignore[index]
    return out


def _fake_round_trip(fake: FakeBotApi, n: int = 200) -> tuple[float, float]:
    """sendMessage through python-telegram-bot to the fake: ms per call, sequential and
    with ``n`` in flight."""
    import asyncio

    from telegram import Bot
    from telegram.request import HTTPXRequest

    async def run() -> tuple[float, float]:
        bot = Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url,
                  request=HTTPXRequest(read_timeout=5.0, connect_timeout=1.0))
        async with bot:
            t = (await bot.create_forum_topic(fake.chat_id, "bench")).message_thread_id
            t0 = time.perf_counter()
            for i in range(n):
                await bot.send_message(fake.chat_id, f"m{i}", message_thread_id=t)
            sequential = (time.perf_counter() - t0) / n
            t0 = time.perf_counter()
            await asyncio.gather(*(bot.send_message(fake.chat_id, f"p{i}") for i in range(n)))
            parallel = (time.perf_counter() - t0) / n
        return sequential * 1000, parallel * 1000

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with FakeBotApi() as fake:
        sequential, parallel = _fake_round_trip(fake)
        print(f"fake Bot API sendMessage round trip: {sequential:.2f} ms sequential, "
              f"{parallel:.2f} ms/call with 200 in flight")
    with FakeBotApi() as fake:
        tg = {"SM_TELEGRAM_TOKEN": fake.token, "SM_TELEGRAM_CHAT_ID": str(fake.chat_id),
              "SM_TELEGRAM_BASE_URL": fake.base_url,
              "SM_TELEGRAM_ALLOWED_USER_IDS": str(fake.user["id"])}
        with daemon(SM_SCRIPTED_SPEED="0.05", **tg) as env:
            mirror = stats(_mirror(env, fake, args.runs))
            line("state change (turn end) → Telegram message", mirror)
            on = stats(_delivery(env, args.runs))
        with daemon(SM_SCRIPTED_SPEED="0.05") as env:
            off = stats(_delivery(env, args.runs))
    line("agent → agent send → delivered, bot off", off)
    line("agent → agent send → delivered, bot on", on,
         extra=f"  = {on['p50'] / off['p50']:.2f}x off (p50), {on['p95'] / off['p95']:.2f}x (p95)")


if __name__ == "__main__":
    main()
