"""sm job add|list|show|log|cancel|retry|requeue|wait, templates and projects.
(``sm job done`` is on the agents' fast path: ``finish``.)"""

from __future__ import annotations

import re
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from sm.cli.output import ago, console, emit_json
from sm.client import Client, quote_ref
from sm.errors import InvalidInput

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
app = typer.Typer(help="Jobs: tasks queued for agents, with dependencies, priorities, "
                  "schedules, checks and retries.", no_args_is_help=True)
template_app = typer.Typer(help="Job templates: prompt skeletons with defaults.",
                           no_args_is_help=True)
app.add_typer(template_app, name="template")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_WAIT_SLICE = 30.0


# -- parsing (pure) -------------------------------------------------------------------------
def parse_duration(text: str) -> float:
    """``90``, ``30s``, ``5m``, ``1h30m``, ``2d`` → seconds. Raises InvalidInput."""
    spec, pos, total = text.strip().lower(), 0, 0.0
    while pos < len(spec) and (m := _DURATION.match(spec, pos)):
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not spec or pos != len(spec) or total <= 0:
        raise InvalidInput(f"invalid duration {text!r}: expected e.g. 30s, 5m, 1h or 1h30m")
    return total


def parse_when(text: str, now: datetime | None = None) -> float:
    """``2026-05-01T09:30`` (local), ``09:30`` (the next one) → a timestamp."""
    now = now or datetime.now()
    try:
        if re.fullmatch(r"\d{1,2}:\d{2}", text.strip()):
            hour, minute = map(int, text.split(":"))
            at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
            return (at if at > now else at + timedelta(days=1)).timestamp()
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise InvalidInput(f"invalid time {text!r}: expected HH:MM or an ISO date-time like "
                           "2026-05-01T09:30") from None


def parse_pairs(items: list[str], what: str) -> dict[str, str]:
    """``["k=v", …]`` → a dict. Raises InvalidInput for an item without ``=``."""
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise InvalidInput(f"{what} {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


# -- formatting (pure) -----------------------------------------------------------------------
def _summary(j: dict[str, Any]) -> str:
    text = j.get("title") or j["task"]
    return text.splitlines()[0][:60] if text else ""


def format_jobs(items: list[dict[str, Any]]) -> str:
    if not items:
        return "no jobs"
    lines = [f"{'ID':<8} {'NAME':<16} {'STATE':<10} {'PRI':>3} {'PROJECT':<12} {'TRY':>3}  TASK"]
    for j in items:
        lines.append(f"{j['id']:<8} {(j['name'] or '-')[:16]:<16} {j['state']:<10} "
                     f"{j['priority']:>3} {j['project'][:12]:<12} {j['attempt']:>3}  "
                     f"{_summary(j)}")
    return "\n".join(lines)


def format_job(data: dict[str, Any], now: float | None = None) -> str:
    j = data["job"]
    rows = [("id", j["id"]), ("name", j["name"] or "-"), ("state", j["state"]),
            ("project", j["project"]), ("priority", str(j["priority"])),
            ("agent", j["provider"] + (f" ({j['model']})" if j["model"] else "")),
            ("directory", j["cwd"] + (" (own worktree)" if j["worktree"] else "")),
            ("attempt", f"{j['attempt']} of {j['max_attempts']} (retry {j['retry']})"),
            ("added", f"{ago(j['created_at'], now)} ago by {j['creator']}")]
    optional = [("title", j["title"]), ("template", j["template"]),
                ("depends on", ", ".join(j["depends_on"])), ("checks", ", ".join(j["checks"])),
                ("schedule", j["cron"] or (f"every {j['every']:g}s" if j["every"] else None)),
                ("next run", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(j["run_at"]))
                 if j["run_at"] and j["state"] == "queued" else None),
                ("session", j["session_name"]), ("result", j["result"]),
                ("reason", j["reason"]), ("diagnosis", j["diagnosis"]), ("pr", j["pr_url"]),
                ("last message", (j["last_message"] or "")[:300] or None)]
    rows += [(k, v) for k, v in optional if v]
    out = [f"{k:>13}: {v}" for k, v in rows]
    out.append(f"{'task':>13}: {j['task'][:500]}")
    for r in data.get("runs", []):
        out.append(f"  run {r['run']} attempt {r['attempt']}: {r['outcome']}"
                   f" ({r['turns']} turn(s), {r['ended_at'] - r['started_at']:.1f}s)"
                   + (f" — {r['reason']}" if r["reason"] else ""))
    return "\n".join(out)


def format_events(events: list[dict[str, Any]]) -> str:
    lines = []
    for e in events:
        p = e["payload"]
        when = time.strftime("%H:%M:%S", time.localtime(e["ts"]))
        extra = p.get("reason") or p.get("check") or ""
        lines.append(f"{e['seq']:>6} {when} {p['action']:<10} → {p['state']:<10} "
                     f"attempt {p.get('attempt', 0)} {extra}".rstrip())
    return "\n".join(lines) or "no events"


def format_results(items: list[dict[str, Any]]) -> str:
    """One line per job: its state and its result (or why it failed)."""
    lines = []
    for j in items:
        # queued here: a recurring job between two runs
        ok = j["state"] in ("succeeded", "queued")
        detail = (j["result"] or j["last_message"] or "") if ok else (j["reason"] or "")
        detail = " ".join(detail.split())[:300]
        lines.append(f"{j['name'] or j['id']}: {j['state']}" + (f" — {detail}" if detail else ""))
    return "\n".join(lines)


# -- commands ------------------------------------------------------------------------------------
@app.command("add")
def add(
    task: Annotated[list[str] | None, typer.Argument(help="The task text; - reads stdin.")] = None,
    title: Annotated[str | None, typer.Option(help="A short title.")] = None,
    name: Annotated[str | None, typer.Option(help="A name other jobs' --after can use.")] = None,
    template: Annotated[str | None, typer.Option(help="A template's guidelines and defaults.")
                        ] = None,
    context: Annotated[list[str] | None, typer.Option(
        "--context", "-c", help="KEY=VALUE for the prompt's Context (and {KEY} in the "
        "template).")] = None,
    project: Annotated[str | None, typer.Option(help="Groups jobs; has its own cap.")] = None,
    agent: Annotated[str | None, typer.Option(
        "--agent", help="claude | codex | scripted (default: jobs.provider).")] = None,
    model: Annotated[str | None, typer.Option()] = None,
    script: Annotated[Path | None, typer.Option(help="scripted: its YAML script.")] = None,
    option: Annotated[list[str] | None, typer.Option(
        "--option", "-o", help="KEY=VALUE passed to the agent's provider.")] = None,
    cwd: Annotated[Path | None, typer.Option(help="Where it runs (default: here).")] = None,
    worktree: Annotated[bool, typer.Option(
        help="Run in a new worktree; push it, and open a PR on success.")] = False,
    priority: Annotated[int, typer.Option(help="-10 … 10; higher runs first.")] = 0,
    after: Annotated[list[str] | None, typer.Option(
        "--after", help="A job (id or name) this one depends on.")] = None,
    at: Annotated[str | None, typer.Option(help="Not before: HH:MM or an ISO time.")] = None,
    in_: Annotated[str | None, typer.Option("--in", help="Not before: a delay, e.g. 10m.")
                   ] = None,
    cron: Annotated[str | None, typer.Option(help="Run on this cron schedule.")] = None,
    every: Annotated[str | None, typer.Option(help="Run again this long after each success.")
                     ] = None,
    max_turns: Annotated[int | None, typer.Option(help="Turns before failed checks fail it.")
                         ] = None,
    max_time: Annotated[str | None, typer.Option(help="Wall time of one attempt, e.g. 30m.")
                        ] = None,
    check: Annotated[list[str] | None, typer.Option(
        help="diff_not_empty | no_error_in_output | command:SHELL (repeatable).")] = None,
    retry: Annotated[str | None, typer.Option(help="none | same | analyze.")] = None,
    attempts: Annotated[int | None, typer.Option(help="Attempts under same/analyze.")] = None,
    backoff: Annotated[str | None, typer.Option(help="Before the first retry, e.g. 30s.")
                       ] = None,
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", help="A YAML or JSON list of jobs (the API's fields).")] = None,
    wait: Annotated[bool, typer.Option(help="Then wait for them, like sm job wait.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Queue a job (or, with --file, a batch whose jobs may depend on each other)."""
    here = str((cwd or Path.cwd()).resolve())
    if file is not None:
        if task:
            raise InvalidInput("give a task or --file, not both")
        jobs = _read_batch(file, here)
    else:
        words = list(task or [])
        text = sys.stdin.read() if words == ["-"] else " ".join(words)
        if not text.strip():
            raise InvalidInput("sm job add TASK: the task is missing")
        options: dict[str, Any] = parse_pairs(option or [], "--option")
        if script is not None:
            options["script"] = str(script.resolve())
        run_at = parse_when(at) if at else (time.time() + parse_duration(in_) if in_ else None)
        jobs = [{
            "task": text, "title": title, "name": name, "template": template,
            "context": parse_pairs(context or [], "--context"), "project": project,
            "provider": agent, "model": model, "options": options, "cwd": here,
            "worktree": worktree, "priority": priority, "depends_on": after or [],
            "run_at": run_at, "cron": cron, "every": parse_duration(every) if every else None,
            "max_turns": max_turns, "max_seconds": parse_duration(max_time) if max_time else None,
            "checks": check or [], "retry": retry, "max_attempts": attempts,
            "backoff": parse_duration(backoff) if backoff else None,
        }]
    items = Client().post("/jobs", {"jobs": jobs})["items"]
    if wait:
        _wait([j["id"] for j in items], 86400.0 * 365, as_json)
        return
    if as_json:
        emit_json(items)
    else:
        for j in items:
            console().print(f"job [bold]{j['name'] or j['id']}[/] ({j['id']}) queued"
                            + (f" after {', '.join(j['depends_on'])}" if j["depends_on"] else ""))


def _read_batch(path: Path, cwd: str) -> list[dict[str, Any]]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read jobs from {path}: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("jobs"), list):
        data = data["jobs"]
    if not isinstance(data, list) or not all(isinstance(j, dict) for j in data):
        raise InvalidInput(f"{path}: expected a list of jobs (mappings with at least 'task')")
    return [{"cwd": cwd, **job} for job in data]


@app.command("list")
def list_(
    project: Annotated[str | None, typer.Option()] = None,
    state: Annotated[str | None, typer.Option(help="queued, running, failed, … (comma list)")
                     ] = None,
    limit: Annotated[int, typer.Option("-n", "--limit", help="The newest N.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Jobs, oldest first (the newest --limit)."""
    client, items, after = Client(), [], None
    while True:
        page = client.get("/jobs", project=project, state=state, after=after, limit=1000)
        items += page["items"]
        if not (after := page["next"]):
            break
    items = items[-limit:] if limit > 0 else items
    emit_json(items) if as_json else console().print(format_jobs(items), highlight=False,
                                                     markup=False)


@app.command()
def show(ref: str, as_json: JsonOpt = False) -> None:
    """A job: its settings, state, result and attempts."""
    data = Client().get(f"/jobs/{quote_ref(ref)}")
    emit_json(data) if as_json else console().print(format_job(data), markup=False)


@app.command()
def log(ref: str, as_json: JsonOpt = False) -> None:
    """A job's events: added, started, turns, checks, retries, the end."""
    data = Client().get(f"/jobs/{quote_ref(ref)}")
    emit_json(data["events"]) if as_json else console().print(format_events(data["events"]),
                                                               markup=False)


@app.command()
def cancel(refs: list[str], as_json: JsonOpt = False) -> None:
    """Cancel jobs (their agents are stopped; their dependents fail)."""
    items = Client().post("/jobs/cancel", {"refs": refs})["items"]
    emit_json(items) if as_json else console().print(
        "\n".join(f"{j['name'] or j['id']} cancelled" for j in items))


@app.command()
def retry(ref: str, as_json: JsonOpt = False) -> None:
    """Queue a failed or cancelled job again (and the dependents it failed)."""
    items = Client().post(f"/jobs/{quote_ref(ref)}/retry")["items"]
    emit_json(items) if as_json else console().print(
        "\n".join(f"{j['name'] or j['id']} queued" for j in items))


@app.command()
def requeue(ref: str, as_json: JsonOpt = False) -> None:
    """Put a running job back in the queue, or run a succeeded one again."""
    j = Client().post(f"/jobs/{quote_ref(ref)}/requeue")
    emit_json(j) if as_json else console().print(f"{j['name'] or j['id']} queued")


@app.command("wait")
def wait_(
    refs: list[str],
    timeout: Annotated[float, typer.Option(help="Seconds.")] = 3600.0,
    as_json: JsonOpt = False,
) -> None:
    """Block until every job has ended; print each one's result. Exit 1 when one failed,
    was cancelled, or the timeout passed."""
    _wait(refs, timeout, as_json)


def _wait(refs: list[str], timeout: float, as_json: bool) -> None:
    client = Client(timeout=_WAIT_SLICE + 15.0)
    deadline, since = time.monotonic() + max(0.0, timeout), None
    while True:
        remaining = max(0.0, deadline - time.monotonic())
        data = client.post("/jobs/wait", {"refs": refs, "since": since,
                                          "timeout": min(remaining, _WAIT_SLICE)})
        since = data["since"]
        if data["ended"] or time.monotonic() >= deadline:
            break
    items = data["items"]
    if as_json:
        emit_json(data)
    else:
        sys.stdout.write(format_results(items) + "\n")
        if not data["ended"]:
            sys.stdout.write(f"timed out after {timeout:g}s\n")
    ok = data["ended"] and all(j["state"] in ("succeeded", "queued") for j in items)
    if not ok:
        raise typer.Exit(1)


@app.command("done", add_help_option=False,
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def done() -> None:
    """From a job's agent: sm job done "RESULT" (the job completes when its turn ends)."""


# -- templates and projects ------------------------------------------------------------------------
@template_app.command("list")
def templates(as_json: JsonOpt = False) -> None:
    """Templates with their statistics."""
    items = Client().get("/job-templates")["items"]
    if as_json:
        emit_json(items)
        return
    lines = [f"{'NAME':<16} {'AGENT':<10} {'TRIES':>5} {'OK':>5} {'RATE':>5} "
             f"{'TURNS':>5} {'SECS':>7}  GUIDELINES"]
    for t in items:
        s = t["stats"]
        rate = f"{s['success_rate']:.0%}" if s["success_rate"] is not None else "-"
        turns = f"{s['mean_turns']:.1f}" if s["mean_turns"] is not None else "-"
        secs = f"{s['mean_seconds']:.1f}" if s["mean_seconds"] is not None else "-"
        lines.append(f"{t['name']:<16} {t['provider'] or '-':<10} {s['attempts']:>5} "
                     f"{s['succeeded']:>5} {rate:>5} {turns:>5} {secs:>7}  "
                     f"{t['guidelines'].splitlines()[0][:50]}")
    console().print("\n".join(lines) if items else "no templates", markup=False)


@template_app.command("set")
def set_template(
    name: str,
    guidelines: Annotated[str | None, typer.Option(help="The text ({KEY}: from --context).")
                          ] = None,
    guidelines_file: Annotated[Path | None, typer.Option(help="… or from a file.")] = None,
    agent: Annotated[str | None, typer.Option("--agent")] = None,
    model: Annotated[str | None, typer.Option()] = None,
    cwd: Annotated[Path | None, typer.Option()] = None,
    script: Annotated[Path | None, typer.Option(help="scripted: its YAML script.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create or replace a template."""
    if (guidelines is None) == (guidelines_file is None):
        raise InvalidInput("give the guidelines once: --guidelines TEXT or --guidelines-file")
    text = guidelines
    if guidelines_file is not None:
        try:
            text = guidelines_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read {guidelines_file}: {exc}") from None
    body = {"guidelines": text, "provider": agent, "model": model,
            "cwd": str(cwd.resolve()) if cwd else None,
            "options": {"script": str(script.resolve())} if script else {}}
    t = Client().request("PUT", f"/job-templates/{quote_ref(name)}", body)
    emit_json(t) if as_json else console().print(f"template {t['name']} saved")


@template_app.command("rm")
def remove_template(name: str, as_json: JsonOpt = False) -> None:
    """Remove a template (jobs that used it keep their prompts)."""
    t = Client().request("DELETE", f"/job-templates/{quote_ref(name)}")
    emit_json(t) if as_json else console().print(f"template {t['name']} removed")


@app.command()
def projects(as_json: JsonOpt = False) -> None:
    """Projects with their caps and jobs per state."""
    items = Client().get("/projects")["items"]
    if as_json:
        emit_json(items)
        return
    lines = [f"{p['name']:<20} cap {p['max_concurrent'] or '-':<4} "
             + " ".join(f"{k} {v}" for k, v in sorted(p["jobs"].items())) for p in items]
    console().print("\n".join(lines) or "no projects", markup=False)


@app.command()
def project(
    name: str,
    max_concurrent: Annotated[int, typer.Option("--max", help="Agents at once (0: no cap).")],
    as_json: JsonOpt = False,
) -> None:
    """Set a project's concurrency cap (operator only)."""
    p = Client().request("PUT", f"/projects/{quote_ref(name)}",
                         {"max_concurrent": max_concurrent})
    cap = p["max_concurrent"]
    emit_json(p) if as_json else console().print(
        f"project {p['name']}: " + (f"at most {cap} agent(s) at once" if cap else
                                    "no cap of its own (jobs.max_concurrent applies)"))

