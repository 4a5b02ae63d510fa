"""Run ``sm daemon run`` with a loop-lag probe inside the daemon's event loop: a task
that sleeps 10 ms and records how late it wakes, appended to ``$SM_BENCH_LAG`` as one
``lag_ms`` per line (flushed once a second). Started by ``_harness.daemon(probe=True)``;
with ``$SM_BENCH_PROFILE`` set, the daemon also runs under cProfile (stats there)."""

from __future__ import annotations

import asyncio
import os
import sys
import time


async def _probe(path: str) -> None:
    with open(path, "a", buffering=1 << 16) as out:
        flushed = time.monotonic()
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            out.write(f"{(time.perf_counter() - start - 0.01) * 1000:.3f}\n")
            if time.monotonic() - flushed >= 1.0:
                out.flush()
                flushed = time.monotonic()


class _Policy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = super().new_event_loop()
        path = os.environ.get("SM_BENCH_LAG")
        if path:
            loop.call_soon(lambda: loop.create_task(_probe(path)))
        return loop


def main() -> int:
    asyncio.set_event_loop_policy(_Policy())
    from sm.cli.main import main as sm_main

    profile = os.environ.get("SM_BENCH_PROFILE")
    if not profile:
        return sm_main(["daemon", "run"])
    import cProfile

    prof = cProfile.Profile()
    try:
        return int(prof.runcall(sm_main, ["daemon", "run"]) or 0)
    finally:
        prof.dump_stats(profile)


if __name__ == "__main__":
    sys.exit(main())
