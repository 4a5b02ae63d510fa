"""The live views under load: event → browser latency and the daemon's CPU.

N busy scripted agents (each answers every message after a short sleep, and a driver
keeps every one of them busy) and V Chromium viewers logged into the dashboard's
session list. Latency is measured per frame from the event's commit time (its ``ts``)
to the next animation frame after the page applied it. CPU is the daemon's
user+system time over the measuring window, with and without the viewers; the
driver's load is the same in both runs.

    .venv/bin/python bench/live.py [--agents 20] [--viewers 5] [--seconds 15]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import SM, daemon, daemon_pid, line, sm_json, stats  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         # five tabs of one browser: keep the ones behind the first from being throttled
         "--disable-renderer-backgrounding", "--disable-background-timer-throttling",
         "--disable-backgrounding-occluded-windows"]
SCRIPT = "default:\n  - sleep: 4\n  - say: busy\n"  # × SM_SCRIPTED_SPEED 0.05: 200 ms turns


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(env: dict[str, str], names: list[str], stop: threading.Event) -> None:
    """Keep every agent busy: one message each, again as soon as it is idle."""
    import subprocess

    while not stop.is_set():
        for name in names:
            subprocess.run([SM, "send", name, "work"], env=env, capture_output=True)
        time.sleep(0.2)


def measure(
    env: dict[str, str], seconds: float, viewers: int,
) -> tuple[list[float], list[float], float]:
    pid = daemon_pid(env)
    latencies: list[float] = []
    arrivals: list[float] = []
    pages = []
    if viewers:
        from playwright.sync_api import sync_playwright

        url = sm_json(env, "web")["login_url"]  # type: ignore[index]
        pw = sync_playwright().start()
        ctx = pw.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="smb-chromium-"), executable_path=CHROMIUM, headless=True,
            args=FLAGS)
        for i in range(viewers):
            page = ctx.new_page()
            page.goto(url if i == 0 else url.split("/login")[0] + "/")  # one login: a cookie
            page.wait_for_selector("#conn.on")
            page.evaluate("""() => { window.lat = []; window.arr = [];
                window.smArrived = f => { if (f.ts) window.arr.push(Date.now() - f.ts * 1000); };
                window.smRendered = f => {
                  if (f.ts) window.lat.push(Date.now() - f.ts * 1000); }; }""")
            pages.append(page)
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    cpu = (cpu_seconds(pid) - start_cpu) / (time.monotonic() - start) * 100
    for page in pages:
        latencies += page.evaluate("() => window.lat")
        arrivals += page.evaluate("() => window.arr")
    if viewers:
        ctx.close()
        pw.stop()
    return latencies, arrivals, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=20)
    ap.add_argument("--viewers", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=15.0)
    args = ap.parse_args()
    with daemon(SM_SCRIPTED_SPEED="0.05", SM_WEB_PORT="0") as env:
        script = Path(env["SM_HOME"]) / "busy.yaml"
        script.write_text(SCRIPT)
        names = [f"b{i}" for i in range(args.agents)]
        for name in names:
            sm_json(env, "spawn", "scripted", "--name", name, "--script", str(script))
        stop = threading.Event()
        driver = threading.Thread(target=drive, args=(env, names, stop), daemon=True)
        driver.start()
        try:
            time.sleep(2.0)
            _, _, idle_cpu = measure(env, args.seconds, 0)
            latencies, arrivals, cpu = measure(env, args.seconds, args.viewers)
        finally:
            stop.set()
            driver.join(timeout=30)
        events = len(latencies) / max(1, args.viewers)
        print(f"{args.agents} busy agents, {args.viewers} browser viewers, {args.seconds:g} s "
              f"each; {events:.0f} frames per viewer ({events / args.seconds:.0f}/s)")
        line("event committed → arrived in the page", stats(arrivals))
        line("event committed → rendered in the page", stats(latencies))
        print(f"{'daemon CPU, no viewers':<44} {idle_cpu:6.1f} % of a core")
        print(f"{'daemon CPU, ' + str(args.viewers) + ' viewers':<44} {cpu:6.1f} % of a core "
              f"({cpu / max(idle_cpu, 0.1):.2f}× without)")


if __name__ == "__main__":
    main()
