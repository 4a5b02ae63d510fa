"""The agent's hot path and the daemon at rest: prints figures, asserts nothing.

    .venv/bin/python bench/hotpath.py [--sessions 100] [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (  # noqa: E402
    ROOT,
    SM,
    daemon,
    daemon_pid,
    line,
    session_token,
    sm_json,
    stats,
    timed,
    timed_cpu,
    wait_until,
)


def _run(argv: list[str], env: dict[str, str], stdin: bytes | None = None) -> None:
    subprocess.run(argv, env=env, input=stdin, stdout=subprocess.DEVNULL, check=False)


def _socket(env: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, "-c", f"from sm.config import tmux_socket_for; from pathlib import Path; "
         f"print(tmux_socket_for(Path({env['SM_HOME']!r})))"],
        capture_output=True, text=True, check=True).stdout.strip()


def _session_env(env: dict[str, str], sid: str) -> dict[str, str]:
    token = session_token(env["SM_HOME"], sid)
    return {**env, "SM_SESSION_ID": sid, "SM_SESSION_TOKEN": token}


def _health_keepalive(home: str, runs: int) -> dict[str, float]:
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(f"{home}/sm.sock")
    req = b"GET /health HTTP/1.1\r\nHost: sm\r\n\r\n"
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        sock.sendall(req)
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        head, body = buf.split(b"\r\n\r\n", 1)
        length = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")][0]
                     .split(b":")[1])
        while len(body) < length:
            body += sock.recv(65536)
        samples.append((time.perf_counter() - start) * 1000)
    sock.close()
    return stats(samples)


def _state(env: dict[str, str], ref: str) -> str:
    return str(sm_json(env, "status", ref)["state"])  # type: ignore[index]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    py = sys.executable
    with daemon(SM_SCRIPTED_SPEED="0.05") as env:
        bare = timed(lambda: _run([py, "-c", "pass"], env), args.runs)
        line("bare python -c pass", bare)
        first = sm_json(env, "spawn", "scripted", "--name", "bench0")
        wait_until(lambda: _state(env, "bench0") == "idle")
        senv = _session_env(env, first["id"])  # type: ignore[index]
        hook = [py, "-I", "-S", str(ROOT / "hooks" / "sm_hook.py"), "PostToolUse"]
        payload = json.dumps({"session_id": "x", "hook_event_name": "PostToolUse",
                              "tool_name": "Bash", "tool_input": {"command": "true"}}).encode()
        s = timed(lambda: _run(hook, senv, payload), args.runs)
        line("hook entry point (PostToolUse)", s, extra=f"  = {s['p50'] / bare['p50']:.2f}x bare")
        for cmd in (["me"], ["status"], ["send", "bench0", "ping", "--important"]):
            s = timed(lambda cmd=cmd: _run([SM, *cmd], senv), args.runs)
            line(f"sm {' '.join(cmd)}", s, extra=f"  = {s['p50'] / bare['p50']:.2f}x bare")
        # CPU time of the process itself: steadier than wall time on a shared machine
        bare_cpu = timed_cpu(lambda: _run([py, "-c", "pass"], env), args.runs)
        line("CPU: bare python -c pass", bare_cpu)
        s = timed_cpu(lambda: _run(hook, senv, payload), args.runs)
        line("CPU: hook entry point", s, extra=f"  = {s['p50'] / bare_cpu['p50']:.2f}x bare")
        for cmd in (["me"], ["send", "bench0", "ping", "--important"]):
            s = timed_cpu(lambda cmd=cmd: _run([SM, *cmd], senv), args.runs)
            line(f"CPU: sm {' '.join(cmd)}", s,
                 extra=f"  = {s['p50'] / bare_cpu['p50']:.2f}x bare")
        line("GET /health, kept-alive client", _health_keepalive(env["SM_HOME"], 200))

        ready = []
        for i in range(1, 21):
            start = time.perf_counter()
            sm_json(env, "spawn", "scripted", "--name", f"bench{i}")
            wait_until(lambda i=i: _state(env, f"bench{i}") == "idle", interval=0.005)
            ready.append((time.perf_counter() - start) * 1000)
        line("spawn → idle (scripted, via CLI + polling)", stats(ready))

        for i in range(21, args.sessions):
            subprocess.run([SM, "spawn", "scripted", "--name", f"bench{i}"], env=env,
                           check=True, capture_output=True)
        wait_until(lambda: all(s["state"] == "idle" for s in sm_json(env, "list")),  # type: ignore[index, union-attr]
                   timeout=120, interval=0.5)
        time.sleep(2)
        pid = daemon_pid(env)
        status = Path(f"/proc/{pid}/status").read_text()
        rss = int([x for x in status.splitlines() if x.startswith("VmRSS")][0].split()[1]) / 1024
        ticks = lambda: sum(int(x) for x in Path(f"/proc/{pid}/stat").read_text().split()[13:15])  # noqa: E731
        t0, c0 = time.monotonic(), ticks()
        time.sleep(10)
        cpu = (ticks() - c0) / 100 / (time.monotonic() - t0) * 100
        print(f"daemon with {args.sessions} idle scripted sessions: RSS {rss:.1f} MiB, "
              f"CPU {cpu:.2f} % of a core (10 s)")
        clients = subprocess.run(
            ["tmux", "-L", _socket(env), "list-clients", "-F",
             "#{client_pid} #{client_control_mode}"],
            capture_output=True, text=True, check=True).stdout.split("\n")
        for row in clients:
            if row.endswith(" 1"):
                cpid = int(row.split()[0])
                crss = int([x for x in Path(f"/proc/{cpid}/status").read_text().splitlines()
                            if x.startswith("VmRSS")][0].split()[1]) / 1024
                print(f"  + the tmux control client (pid {cpid}): RSS {crss:.1f} MiB")
        s = timed(lambda: _run([SM, "list", "--json"], env), 10)
        line(f"sm list --json ({args.sessions} sessions)", s)


if __name__ == "__main__":
    main()
