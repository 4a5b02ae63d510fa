"""Jobs and the knowledge base.

    .venv/bin/python bench/jobs.py [--jobs 1000] [--concurrent 20] [--latency-runs 30]
                                   [--entries 10000] [--queries 300] [--skip-agents]

1. The engine alone: ``--jobs`` jobs through the job queue in-process, on a real store,
   with fake agents that end each turn at once — what the queue itself costs per job.
2. ``--jobs`` jobs (one batch, independent) through a real daemon with scripted agents
   under ``jobs.max_concurrent = --concurrent``: jobs started per second, jobs finished
   per second, and how long each waited in the queue (capacity-bound here).
3. Dispatch latency with free capacity: one job at a time added to an idle queue, its
   ``created_at`` → ``started_at`` (the row says running; the agent is then spawned).
4. ``--entries`` knowledge-base entries (added with duplicate detection; words drawn
   Zipf-like from 5,000, as text has them), then ``--queries`` searches of two or three
   words, and ``## Memory`` selections for 30-word tasks.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import ROOT, daemon, line, stats  # noqa: E402

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "unit"))
from fake_agents import FakeAgents  # noqa: E402

from sm.client import Client  # noqa: E402
from sm.core.events import EventBus  # noqa: E402
from sm.core.job_checks import Checks  # noqa: E402
from sm.core.job_queue import JobQueue  # noqa: E402
from sm.core.jobs import JobDefaults, NewJob  # noqa: E402
from sm.core.kb import Draft, KnowledgeBase, Origin  # noqa: E402
from sm.store import Store  # noqa: E402

_WORDS = ("socket tmux daemon hook delivery receipt lock lease worktree branch commit push "
          "migration schema index query cache token session agent prompt composer paste "
         "escape turn stop spool reconcile crash restart timeout retry backoff cron queue "
         "priority project template memory search entry duplicate merge title content tag "
         "pytest fixture flaky race deadlock cycle graph cascade parent child orchestrator "
         "telegram topic outbox mirror approval permission sandbox identity peercred")
WORDS = _WORDS.split()


# -- 1. the engine alone ----------------------------------------------------------------
async def _engine(jobs: int, concurrent: int) -> None:
    with tempfile.TemporaryDirectory(prefix="smb-") as tmp:
        store = await Store.open(Path(tmp) / "sm.db")
        agents = FakeAgents()
        bus = EventBus()
        q = JobQueue(store, bus, agents, checks=Checks(), kb=KnowledgeBase(store, bus),
                     defaults=JobDefaults(provider="scripted"), max_concurrent=concurrent)
        await q.start(dispatch=False)
        start = time.perf_counter()
        await q.add([NewJob(f"task {i}", cwd=tmp) for i in range(jobs)], None, "bench")
        added = time.perf_counter() - start
        finished = 0
        while finished < jobs:
            await q.pump()
            for job in await store.jobs.active():
                if job.session_id:
                    await agents.end_turn(job.session_id)
                    finished += 1
            await q.runner.settle()
        total = time.perf_counter() - start
        await q.close()
        await store.close()
    print(f"{'engine alone, fake agents: add ' + str(jobs) + ' jobs (one batch)':<44} "
          f"{added * 1000:8.1f} ms")
    print(f"{'engine alone: add → all succeeded':<44} {total:8.2f} s   "
          f"{jobs / total:8.1f} jobs/s")


# -- 2. and 3. a real daemon with scripted agents ---------------------------------------
def _throughput(jobs: int, concurrent: int) -> None:
    with daemon(SM_JOBS_MAX_CONCURRENT=str(concurrent), SM_JOBS_PROVIDER="scripted",
                SM_SCRIPTED_SPEED="0.05") as env:
        client = Client(home=env["SM_HOME"], token="", session_id="", timeout=600)
        work = Path(env["SM_HOME"]) / "work"
        work.mkdir()
        start = time.time()
        items = client.post("/jobs", {"jobs": [{"task": f"say hello {i}", "cwd": str(work)}
                                               for i in range(jobs)]})["items"]
        added = time.time() - start
        ids = [j["id"] for j in items]
        while True:
            counts = client.get("/projects")["items"][0]["jobs"]
            done = counts.get("succeeded", 0) + counts.get("failed", 0)
            if done >= jobs:
                break
            time.sleep(0.5)
        rows = []
        after = None
        while True:
            page = client.get("/jobs", after=after, limit=1000)
            rows += page["items"]
            if not (after := page["next"]):
                break
        rows = [r for r in rows if r["id"] in set(ids)]
    starts = sorted(r["started_at"] for r in rows)
    ends = sorted(r["ended_at"] for r in rows)
    failed = sum(r["state"] != "succeeded" for r in rows)
    span = starts[-1] - starts[0]
    print(f"{f'{jobs} jobs, scripted agents, {concurrent} at once: added':<44} "
          f"{added * 1000:8.1f} ms   ({failed} failed)")
    print(f"{'  dispatched (first start → last start)':<44} {jobs / span:8.2f} jobs/s")
    print(f"{'  finished (added → last end)':<44} {jobs / (ends[-1] - start):8.2f} jobs/s")
    line("  queue → running (capacity-bound)",
         stats([(r["started_at"] - r["created_at"]) * 1000 for r in rows]))
    line("  running → succeeded (spawn, turn, check, kill)",
         stats([(r["ended_at"] - r["started_at"]) * 1000 for r in rows]))


def _latency(runs: int) -> None:
    with daemon(SM_JOBS_PROVIDER="scripted", SM_SCRIPTED_SPEED="0.05") as env:
        client = Client(home=env["SM_HOME"], token="", session_id="", timeout=60)
        work = Path(env["SM_HOME"]) / "work"
        work.mkdir()
        samples = []
        for i in range(runs):
            (job,) = client.post("/jobs", {"jobs": [{"task": f"hi {i}", "cwd": str(work)}]}
                                 )["items"]
            data = client.post("/jobs/wait", {"refs": [job["id"]], "timeout": 30})
            row = data["items"][0]
            samples.append((row["started_at"] - row["created_at"]) * 1000)
        line("queue → running, free capacity", stats(samples))


# -- 4. the knowledge base ---------------------------------------------------------------
async def _kb(entries: int, queries: int) -> None:
    rng = random.Random(20261122)
    # words as text has them: a few common, most rare (Zipf over 5,000 words)
    vocabulary = WORDS + [f"{rng.choice(WORDS)[:4]}{i}" for i in range(5000 - len(WORDS))]
    weights = [1 / rank for rank in range(1, len(vocabulary) + 1)]

    def text(n: int) -> str:
        return " ".join(rng.choices(vocabulary, weights, k=n))

    with tempfile.TemporaryDirectory(prefix="smb-") as tmp:
        store = await Store.open(Path(tmp) / "sm.db")
        kb = KnowledgeBase(store, EventBus())
        adds, merged = [], 0
        for i in range(entries):
            draft = Draft(f"{text(3)} {i}", f"{text(25)} (note {i})", (rng.choice(WORDS),),
                          "project" if i % 3 else "global", f"p{i % 10}")
            start = time.perf_counter()
            added = await kb.add(draft, Origin("bench"))
            adds.append((time.perf_counter() - start) * 1000)
            merged += added.merged
        line(f"kb add with duplicate check ({entries} entries)", stats(adds),
             extra=f"   {merged} merged")
        searches, hits = [], 0
        for _ in range(queries):
            q = text(rng.choice((2, 3)))
            start = time.perf_counter()
            found = await kb.search(q, limit=20)
            searches.append((time.perf_counter() - start) * 1000)
            hits += len(found)
        line(f"kb search, {await store.kb.count()} entries", stats(searches),
             extra=f"   {hits / queries:.1f} hits/query")
        memories = []
        for _ in range(queries):
            start = time.perf_counter()
            await kb.memory_for(f"p{rng.randrange(10)}", text(30))
            memories.append((time.perf_counter() - start) * 1000)
        line("## Memory for a job (30-word task)", stats(memories))
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--latency-runs", type=int, default=30)
    parser.add_argument("--entries", type=int, default=10000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--skip-agents", action="store_true", help="only the in-process parts")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    asyncio.run(_engine(args.jobs, args.concurrent))
    if not args.skip_agents:
        _latency(args.latency_runs)
        _throughput(args.jobs, args.concurrent)
    asyncio.run(_kb(args.entries, args.queries))
    print(json.dumps({"jobs": args.jobs, "concurrent": args.concurrent,
                      "entries": args.entries}))


if __name__ == "__main__":
    main()
