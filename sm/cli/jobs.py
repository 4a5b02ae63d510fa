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

from sm.cli.output import console, emit_json
from sm.cli.tables import Column, table
from sm.cli.typer_help import JSON_HELP, command, group
from sm.cli.views import ago
from sm.client import Client, quote_ref
from sm.durations import parse_duration
from sm.errors import InvalidInput

JsonOpt = Annotated[bool, typer.Option("--json", help=JSON_HELP)]
app = group("Jobs: tasks queued for agents, with dependencies, priorities, schedules, "
            "checks and retries.")
template_app = group("Job templates: prompt skeletons with defaults.")
app.add_typer(template_app, name="template")
_WAIT_SLICE = 30.0
_JOB = "A job: its id, name or a unique id prefix."
_JOBS = "Jobs: ids, names or unique id prefixes."
JobArg = Annotated[str, typer.Argument(metavar="JOB", help=_JOB)]


# -- parsing (pure) -------------------------------------------------------------------------
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


def format_jobs(items: list[dict[str, Any]], cols: int | None = None) -> str:
    if not items:
        return "no jobs"
    columns = [Column("ID"), Column("NAME", min=8, order=2, cut="middle"), Column("STATE"),
               Column("PRI", right_align=True), Column("PROJECT", min=8, order=1),
               Column("TRY", right_align=True), Column("TASK", min=10, order=0)]
    rows = [[j["id"], j["name"] or "-", j["state"], str(j["priority"]), j["project"],
             str(j["attempt"]), _summary(j)] for j in items]
    return table(columns, rows, cols)


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


def format_templates(items: list[dict[str, Any]], cols: int | None = None) -> str:
    """Templates with their statistics (``-`` where nothing ran yet)."""
    if not items:
        return "no templates"
    columns = [Column("NAME", min=8, order=1, cut="middle"), Column("AGENT"),
               Column("TRIES", right_align=True), Column("OK", right_align=True),
               Column("RATE", right_align=True), Column("TURNS", right_align=True),
               Column("SECS", right_align=True), Column("GUIDELINES", min=10, order=0)]
    rows = []
    for t in items:
        s = t["stats"]
        rate = f"{s['success_rate']:.0%}" if s["success_rate"] is not None else "-"
        turns = f"{s['mean_turns']:.1f}" if s["mean_turns"] is not None else "-"
        secs = f"{s['mean_seconds']:.1f}" if s["mean_seconds"] is not None else "-"
        rows.append([t["name"], t["provider"] or "-", str(s["attempts"]), str(s["succeeded"]),
                     rate, turns, secs, (t["guidelines"].splitlines() or [""])[0]])
    return table(columns, rows, cols)


def format_projects(items: list[dict[str, Any]], cols: int | None = None) -> str:
    """Projects with their caps and jobs per state."""
    if not items:
        return "no projects"
    columns = [Column("PROJECT", min=8, order=1), Column("CAP", right_align=True),
               Column("JOBS", min=10, order=0)]
    rows = [[p["name"], str(p["max_concurrent"] or "-"),
             " ".join(f"{k} {v}" for k, v in sorted((p["jobs"] or {}).items())) or "-"]
            for p in items]
    return table(columns, rows, cols)


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
@command(app, "add")
def add(
    task: Annotated[list[str] | None, typer.Argument(help="The task text; - reads stdin.")] = None,
    title: Annotated[str | None, typer.Option(metavar="TITLE", help="A short title.")] = None,
    name: Annotated[str | None, typer.Option(
        metavar="NAME", help="A name other jobs' --after can use.")] = None,
    template: Annotated[str | None, typer.Option(
        metavar="TEMPLATE", help="A template's guidelines and defaults.")] = None,
    context: Annotated[list[str] | None, typer.Option(
        "--context", "-c", metavar="KEY=VALUE",
        help="For the prompt's Context (and {KEY} in the template).")] = None,
    project: Annotated[str | None, typer.Option(
        metavar="PROJECT", help="Groups jobs; has its own cap.")] = None,
    agent: Annotated[str | None, typer.Option(
        "--agent", metavar="AGENT", help="claude | codex | scripted (default: jobs.provider).")
    ] = None,
    model: Annotated[str | None, typer.Option(
        metavar="MODEL", help="The agent's model (default: its own).")] = None,
    script: Annotated[Path | None, typer.Option(
        metavar="FILE", help="scripted: its YAML script.")] = None,
    option: Annotated[list[str] | None, typer.Option(
        "--option", "-o", metavar="KEY=VALUE",
        help="Passed to the agent's provider.")] = None,
    cwd: Annotated[Path | None, typer.Option(
        metavar="DIR", help="Where it runs (default: here).")] = None,
    worktree: Annotated[bool, typer.Option(
        help="Run in a new worktree; push it, and open a PR on success.")] = False,
    priority: Annotated[int, typer.Option(metavar="N", help="-10 … 10; higher runs first.")] = 0,
    after: Annotated[list[str] | None, typer.Option(
        "--after", metavar="JOB", help="A job (id or name) this one depends on.")] = None,
    at: Annotated[str | None, typer.Option(
        metavar="TIME", help="Not before: HH:MM or an ISO time.")] = None,
    in_: Annotated[str | None, typer.Option(
        "--in", metavar="DELAY", help="Not before: a delay, e.g. 10m.")] = None,
    cron: Annotated[str | None, typer.Option(
        metavar="EXPR", help="Run on this cron schedule.")] = None,
    every: Annotated[str | None, typer.Option(
        metavar="DELAY", help="Run again this long after each success.")] = None,
    max_turns: Annotated[int | None, typer.Option(
        metavar="N", help="Turns before failed checks fail it.")] = None,
    max_time: Annotated[str | None, typer.Option(
        metavar="DELAY", help="Wall time of one attempt, e.g. 30m.")] = None,
    check: Annotated[list[str] | None, typer.Option(
        metavar="CHECK",
        help="diff_not_empty | no_error_in_output | command:SHELL (repeatable).")] = None,
    retry: Annotated[str | None, typer.Option(metavar="POLICY", help="none | same | analyze.")
                     ] = None,
    attempts: Annotated[int | None, typer.Option(
        metavar="N", help="Attempts under same/analyze.")] = None,
    backoff: Annotated[str | None, typer.Option(
        metavar="DELAY", help="Before the first retry, e.g. 30s.")] = None,
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", metavar="FILE",
        help="A YAML or JSON list of jobs (the API's fields).")] = None,
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


@command(app, "list")
def list_(
    project: Annotated[str | None, typer.Option(metavar="PROJECT", help="Only this project's.")
                       ] = None,
    state: Annotated[str | None, typer.Option(
        metavar="STATES", help="queued, running, failed, … (comma list)")] = None,
    limit: Annotated[int, typer.Option("-n", "--limit", metavar="N", help="The newest N.")] = 50,
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
    emit_json(items) if as_json else print(format_jobs(items))


@command(app)
def show(ref: JobArg, as_json: JsonOpt = False) -> None:
    """A job: its settings, state, result and attempts."""
    data = Client().get(f"/jobs/{quote_ref(ref)}")
    emit_json(data) if as_json else console().print(format_job(data), markup=False)


@command(app)
def log(ref: JobArg, as_json: JsonOpt = False) -> None:
    """A job's events: added, started, turns, checks, retries, the end."""
    data = Client().get(f"/jobs/{quote_ref(ref)}")
    emit_json(data["events"]) if as_json else console().print(format_events(data["events"]),
                                                               markup=False)


@command(app)
def cancel(refs: Annotated[list[str], typer.Argument(metavar="JOB", help=_JOBS)],
           as_json: JsonOpt = False) -> None:
    """Cancel jobs (their agents are stopped; their dependents fail)."""
    items = Client().post("/jobs/cancel", {"refs": refs})["items"]
    emit_json(items) if as_json else console().print(
        "\n".join(f"{j['name'] or j['id']} cancelled" for j in items))


@command(app)
def retry(ref: JobArg, as_json: JsonOpt = False) -> None:
    """Queue a failed or cancelled job again (and the dependents it failed)."""
    items = Client().post(f"/jobs/{quote_ref(ref)}/retry")["items"]
    emit_json(items) if as_json else console().print(
        "\n".join(f"{j['name'] or j['id']} queued" for j in items))


@command(app)
def requeue(ref: JobArg, as_json: JsonOpt = False) -> None:
    """Put a running job back in the queue, or run a succeeded one again."""
    j = Client().post(f"/jobs/{quote_ref(ref)}/requeue")
    emit_json(j) if as_json else console().print(f"{j['name'] or j['id']} queued")


@command(app, "wait")
def wait_(
    refs: Annotated[list[str], typer.Argument(metavar="JOB", help=_JOBS)],
    timeout: Annotated[float, typer.Option(metavar="SECONDS", help="How long to wait.")
                       ] = 3600.0,
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


@command(app, "done", add_help_option=False,
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def done() -> None:
    """From a job's agent: sm job done "RESULT" (the job completes when its turn ends)."""


# -- templates and projects ------------------------------------------------------------------------
@command(template_app, "list")
def templates(as_json: JsonOpt = False) -> None:
    """Templates with their statistics."""
    items = Client().get("/job-templates")["items"]
    if as_json:
        emit_json(items)
        return
    print(format_templates(items))


@command(template_app, "set")
def set_template(
    name: Annotated[str, typer.Argument(help="The template's name.")],
    guidelines: Annotated[str | None, typer.Option(
        metavar="TEXT", help="The text ({KEY}: from --context).")] = None,
    guidelines_file: Annotated[Path | None, typer.Option(
        metavar="FILE", help="… or from a file.")] = None,
    agent: Annotated[str | None, typer.Option(
        "--agent", metavar="AGENT", help="Its jobs' agent.")] = None,
    model: Annotated[str | None, typer.Option(metavar="MODEL", help="Its jobs' model.")
                     ] = None,
    cwd: Annotated[Path | None, typer.Option(metavar="DIR", help="Where its jobs run.")
                   ] = None,
    script: Annotated[Path | None, typer.Option(
        metavar="FILE", help="scripted: its YAML script.")] = None,
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


@command(template_app, "rm")
def remove_template(name: Annotated[str, typer.Argument(help="The template's name.")],
                    as_json: JsonOpt = False) -> None:
    """Remove a template (jobs that used it keep their prompts)."""
    t = Client().request("DELETE", f"/job-templates/{quote_ref(name)}")
    emit_json(t) if as_json else console().print(f"template {t['name']} removed")


@command(app)
def projects(as_json: JsonOpt = False) -> None:
    """Projects with their caps and jobs per state."""
    items = Client().get("/projects")["items"]
    if as_json:
        emit_json(items)
        return
    print(format_projects(items))


@command(app)
def project(
    name: Annotated[str, typer.Argument(help="The project's name.")],
    max_concurrent: Annotated[int, typer.Option(
        "--max", metavar="N", help="Agents at once (0: no cap).")],
    as_json: JsonOpt = False,
) -> None:
    """Set a project's concurrency cap (operator only)."""
    p = Client().request("PUT", f"/projects/{quote_ref(name)}",
                         {"max_concurrent": max_concurrent})
    cap = p["max_concurrent"]
    emit_json(p) if as_json else console().print(
        f"project {p['name']}: " + (f"at most {cap} agent(s) at once" if cap else
                                    "no cap of its own (jobs.max_concurrent applies)"))

