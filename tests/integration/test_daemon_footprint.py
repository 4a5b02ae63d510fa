"""What a running daemon keeps in memory: the modules it has imported once it serves.

The daemon is started the way ``sm`` starts it (``python -m sm daemon run``'s entry
point, in a process of its own on this test's SM_HOME and tmux server); a watcher thread
in that process waits until ``GET /health`` answers on the socket, writes down
``sys.modules`` and stops the daemon with SIGTERM. Subsystems that are off by default or
not used yet must not be there: every module costs the daemon's memory for its whole
life (bench/README.md, "The hot path").
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

# never at start: the CLI, the terminal UI, the Telegram bridge (telegram.token unset),
# the MCP SDK (loaded by the first /mcp request), the OpenTelemetry receiver
# (usage.telemetry off), the web dashboard (web.enabled off), the terminal emulator
# (until a live view asks for a screen), and what FastAPI imports only to refuse it
FORBIDDEN = (
    "typer", "rich", "textual", "telegram", "mcp", "httpx", "pyte", "wcwidth", "croniter",
    "pydantic.v1", "sm.cli.app", "sm.cli.daemon", "sm.cli.fast", "sm.watch", "sm.telegram",
    "sm.web", "sm.mcp.tools", "sm.daemon.telemetry", "tomllib", "difflib",
)

_WATCHER = textwrap.dedent("""
    import json, os, signal, socket, sys, threading, time

    def watch(home, out):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(os.path.join(home, "sm.sock"))
                    s.sendall(b"GET /health HTTP/1.1\\r\\nHost: sm\\r\\n\\r\\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                pass
            time.sleep(0.05)
        with open(out, "w") as f:
            json.dump(sorted(m for m, v in list(sys.modules.items()) if v is not None), f)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, args=(os.environ["SM_HOME"], sys.argv[1]),
                     daemon=True).start()
    from sm.cli.main import main
    sys.exit(main(["daemon", "run"]))
""")


def _imported(name: str, modules: list[str]) -> list[str]:
    return [m for m in modules if m == name or m.startswith(name + ".")]


def test_a_serving_daemon_has_imported_no_subsystem_it_does_not_use(
    sm_home: Path, sm_env: dict[str, str],
) -> None:
    out = sm_home / "modules.json"
    proc = subprocess.run([sys.executable, "-c", _WATCHER, str(out)], env=sm_env,
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr
    modules = json.loads(out.read_text())
    assert "sm.daemon.services" in modules and "uvicorn" in modules  # it did serve
    found = {name: _imported(name, modules) for name in FORBIDDEN}
    assert {k: v for k, v in found.items() if v} == {}
