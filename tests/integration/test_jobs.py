"""Jobs through the real CLI and daemon with scripted agents: a DAG in dependency order
under the caps and priorities, cycles refused, cascades, retries (same, analyze), a
command: check, a repeating job, kill -9 of the daemon mid-DAG, a worktree job's PR, and
the knowledge base feeding the next job's prompt."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from test_delivery import prompts
from test_prs import GH_STUB, path_without_gh, remote  # noqa: F401  (remote: a fixture)

Json = Callable[..., Any]


def _script(script_file: Callable[..., Path], name: str, actions: list[dict[str, Any]],
            rules: list[dict[str, Any]] | None = None) -> Path:
    return script_file({"default": actions, "rules": rules or []}, f"{name}.yaml")


def _add(sm_json: Json, task: str, *args: str) -> dict[str, Any]:
    (job,) = sm_json("job", "add", task, "--agent", "scripted", *args)
    return job


def _show(sm_json: Json, ref: str) -> dict[str, Any]:
    data: dict[str, Any] = sm_json("job", "show", ref)
    return data


def _wait(sm: Callable[..., Any], *refs: str, timeout: float = 60) -> tuple[int, list[Any]]:
    proc = sm("job", "wait", *refs, "--timeout", str(timeout), "--json", check=False,
              timeout=timeout + 30)
    return proc.returncode, json.loads(proc.stdout)["items"]


def test_a_dag_runs_in_dependency_order_under_the_cap_and_by_priority(
        sm, sm_json, sm_home: Path, script_file) -> None:
    sm("daemon", "start", env={"SM_JOBS_MAX_CONCURRENT": "2"})
    log = sm_home / "ran.log"
    spec = {"a": ([], 0), "b": ([], 5), "c": ([], -5), "d": (["a", "b"], 0),
            "e": (["c"], 0), "f": (["d", "e"], 0)}
    batch = []
    for name, (deps, priority) in spec.items():
        script = _script(script_file, name, [
            {"run": f"echo {name} >> {log}"}, {"sleep": 6},
            {"run": f"sm job done 'built {name}'"}, {"say": f"finished {name}"}])
        batch.append({"name": name, "task": f"build {name}", "priority": priority,
                      "depends_on": deps, "provider": "scripted",
                      "options": {"script": str(script)}})
    (sm_home / "dag.yaml").write_text(json.dumps(batch))
    sm("job", "add", "--file", str(sm_home / "dag.yaml"))  # all ready at once
    code, items = _wait(sm, *spec, timeout=90)
    assert code == 0, items
    assert {j["name"]: (j["state"], j["result"]) for j in items} == {
        n: ("succeeded", f"built {n}") for n in spec}
    runs = {}
    for name in spec:
        (run,) = _show(sm_json, name)["runs"]  # exactly one attempt each
        runs[name] = (run["started_at"], run["ended_at"])
    for name, (deps, _) in spec.items():
        for dep in deps:
            assert runs[name][0] >= runs[dep][1], f"{name} started before {dep} ended"
    # the two first slots go to the higher priorities
    assert max(runs["a"][0], runs["b"][0]) <= runs["c"][0]
    assert runs["b"][0] <= runs["a"][0]
    edges = sorted([(s, 1) for s, _ in runs.values()] + [(e, -1) for _, e in runs.values()],
                   key=lambda x: (x[0], x[1]))
    running = peak = 0
    for _, delta in edges:
        running += delta
        peak = max(peak, running)
    assert peak == 2
    assert sorted(log.read_text().split()) == sorted(spec)


def test_a_cycle_is_refused_naming_it(sm, sm_home: Path) -> None:
    batch = sm_home / "dag.yaml"
    batch.write_text(json.dumps([
        {"name": "x", "task": "x", "depends_on": ["y"], "provider": "scripted"},
        {"name": "y", "task": "y", "depends_on": ["x"], "provider": "scripted"}]))
    proc = sm("job", "add", "--file", str(batch), check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() in ("sm: dependency cycle: x → y → x",
                                   "sm: dependency cycle: y → x → y")
    assert json.loads(sm("job", "list", "--json").stdout) == []


def test_a_failing_job_cascades_to_its_dependents(sm, sm_json, sm_home: Path,
                                                  script_file) -> None:
    crash = _script(script_file, "crash", [{"crash": 3}])
    batch = sm_home / "dag.yaml"
    batch.write_text(json.dumps([
        {"name": "base", "task": "will crash", "options": {"script": str(crash)},
         "provider": "scripted"},
        {"name": "mid", "task": "needs base", "depends_on": ["base"], "provider": "scripted"},
        {"name": "top", "task": "needs mid", "depends_on": ["mid"], "provider": "scripted"}]))
    sm("job", "add", "--file", str(batch))
    code, items = _wait(sm, "base", "mid", "top")
    assert code == 1
    by = {j["name"]: j for j in items}
    assert by["base"]["state"] == "failed"
    assert by["base"]["reason"].startswith("its agent session job-")
    assert "exit status 3" in by["base"]["reason"]
    for name in ("mid", "top"):
        assert by[name]["state"] == "failed"
        assert by[name]["cause"] == by["base"]["id"]
        assert by[name]["reason"] == f"dependency base failed: {by['base']['reason']}"
    out = sm("job", "wait", "top", check=False).stdout
    assert "top: failed — dependency base failed" in out


def test_same_retries_then_succeeds(sm, sm_json, sm_home: Path, script_file) -> None:
    work = sm_home / "work"
    work.mkdir()
    flaky = _script(script_file, "flaky", [
        {"run": "if [ -f first ]; then touch second; else touch first; fi"}, {"say": "tried"}])
    job = _add(sm_json, "flaky work", "--script", str(flaky), "--cwd", str(work),
               "--check", "command:test -f second", "--retry", "same", "--attempts", "3",
               "--backoff", "0.1")
    code, (done,) = _wait(sm, job["id"])
    assert code == 0 and done["attempt"] == 2
    runs = _show(sm_json, job["id"])["runs"]
    assert [(r["attempt"], r["outcome"]) for r in runs] == [(1, "failed"), (2, "succeeded")]
    assert "completion check command:test -f second failed" in runs[0]["reason"]


def test_analyze_retries_with_a_diagnosis(sm, sm_json, sm_home: Path, script_file) -> None:
    work = sm_home / "work"
    work.mkdir()
    script = _script(script_file, "doctor", [{"say": "I did nothing"}], rules=[
        {"match": "## Diagnose a failed job",
         "actions": [{"say": "The check wants ok.txt: create ok.txt next time."}]},
        {"match": "Diagnosis: The check wants ok.txt",
         "actions": [{"run": "touch ok.txt"}, {"say": "created ok.txt"}]},
    ])
    job = _add(sm_json, "make the check pass", "--script", str(script), "--cwd", str(work),
               "--check", "command:test -f ok.txt", "--retry", "analyze", "--backoff", "0.1")
    code, (done,) = _wait(sm, job["id"])
    assert code == 0, done
    assert done["attempt"] == 2
    assert done["diagnosis"] == "The check wants ok.txt: create ok.txt next time."
    assert done["last_message"] == "created ok.txt"
    events = [e["payload"]["action"] for e in _show(sm_json, job["id"])["events"]]
    assert events[:6] == ["add", "start", "turn_end", "analyze", "retry", "start"]


def test_a_command_check_fails_a_job_whose_tests_fail(sm, sm_json, sm_home: Path,
                                                       script_file) -> None:
    work = sm_home / "work"
    work.mkdir()
    (work / "tests.sh").write_text("echo 'test_parse FAILED'\necho '1 failed, 3 passed'\n"
                                   "exit 1\n")
    script = _script(script_file, "optimist", [{"say": "all tests pass, trust me"}])
    job = _add(sm_json, "fix the parser", "--script", str(script), "--cwd", str(work),
               "--check", "command:sh tests.sh")
    code, (failed,) = _wait(sm, job["id"])
    assert code == 1 and failed["state"] == "failed"
    assert failed["reason"].startswith("completion check command:sh tests.sh failed: "
                                       "'sh tests.sh' exited 1:")
    assert "1 failed, 3 passed" in failed["reason"]
    assert failed["last_message"] == "all tests pass, trust me"


def test_a_repeating_job_runs_again(sm, sm_json, script_file, wait_until) -> None:
    tick = _script(script_file, "tick", [{"say": "tick"}])
    job = _add(sm_json, "tick", "--script", str(tick), "--every", "1")
    wait_until(lambda: _show(sm_json, job["id"])["job"]["runs"] >= 2, timeout=60,
               interval=0.3, message="the job to run twice")
    detail = _show(sm_json, job["id"])
    assert detail["job"]["state"] in ("queued", "running", "checking")
    assert [r["outcome"] for r in detail["runs"]][:2] == ["succeeded", "succeeded"]
    assert detail["runs"][1]["started_at"] >= detail["runs"][0]["ended_at"] + 0.9
    sm("job", "cancel", job["id"])
    assert _show(sm_json, job["id"])["job"]["state"] == "cancelled"


def test_kill_9_of_the_daemon_mid_dag_ends_every_job_exactly_once(
        sm, sm_json, sm_home: Path, script_file, wait_until, daemon_pid, pid_alive) -> None:
    sm("daemon", "start", env={"SM_JOBS_MAX_CONCURRENT": "3"})
    log = sm_home / "ran.log"
    names = ["j1", "j2", "j3", "j4", "j5", "j6"]
    deps = {"j4": ["j1"], "j5": ["j2", "j3"], "j6": ["j4", "j5"]}
    for name in names:
        script = _script(script_file, name, [
            {"run": f"echo {name} >> {log}"}, {"sleep": 20}, {"say": f"done {name}"}])
        args = ["--name", name, "--script", str(script)]
        for dep in deps.get(name, []):
            args += ["--after", dep]
        _add(sm_json, f"step {name}", *args)

    wait_until(lambda: log.exists() and log.read_text().strip(), timeout=30,
               message="an agent to work on its job")
    pid = daemon_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(pid), timeout=10)
    # the agents go on without a daemon: a turn ends unseen (its Stop hook spools)
    spool = sm_home / "spool" / "hooks.jsonl"
    wait_until(lambda: spool.exists() and '"event":"Stop"' in spool.read_text(), timeout=30,
               message="a Stop hook in the spool")
    sm("daemon", "start", env={"SM_JOBS_MAX_CONCURRENT": "3"})
    code, items = _wait(sm, *names, timeout=120)
    assert code == 0, items
    assert {j["name"]: j["state"] for j in items} == dict.fromkeys(names, "succeeded")
    assert sorted(log.read_text().split()) == names  # each ran once
    for name in names:
        detail = _show(sm_json, name)
        assert detail["job"]["starts"] == 1, detail  # one session, never a second
        assert [r["outcome"] for r in detail["runs"]] == ["succeeded"]
        ends = [e for e in detail["events"] if e["payload"]["action"] == "succeed"]
        assert len(ends) == 1


def test_a_worktree_job_opens_its_pr(sm, sm_json, sm_home: Path, script_file,
                                     remote) -> None:  # noqa: F811
    bare, clone = remote
    stub = sm_home / "bin"
    stub.mkdir()
    log, state = sm_home / "gh.log", sm_home / "gh.state"
    (stub / "gh").write_text(GH_STUB.format(python=sys.executable, log=str(log),
                                            state=str(state)))
    (stub / "gh").chmod(0o755)
    sm("daemon", "start", env={"PATH": f"{stub}{os.pathsep}{path_without_gh()}"})
    script = _script(script_file, "writer", [
        {"write": {"path": "feature.py", "content": "FEATURE = True\n"}},
        {"say": "feature added"}])
    job = _add(sm_json, "add the feature", "--title", "Add the feature", "--worktree",
               "--cwd", str(clone), "--script", str(script), "--check", "diff_not_empty")
    code, (done,) = _wait(sm, job["id"])
    assert code == 0, done
    assert done["pr_url"] == "https://github.com/acme/proj/pull/7"
    branch = f"sm/job-{job['id']}-1"
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    create = next(c for c in calls if c[:2] == ["pr", "create"])
    assert create[create.index("--head") + 1] == branch
    assert create[create.index("--title") + 1] == "Add the feature"
    import subprocess

    shown = subprocess.run(["git", "-C", str(bare), "show", f"{branch}:feature.py"],
                           capture_output=True, text=True, check=True).stdout
    assert shown == "FEATURE = True\n"


def test_learnings_are_searchable_and_reach_the_next_jobs_memory(
        sm, sm_json, sm_home: Path, script_file) -> None:
    teacher = _script(script_file, "teacher", [
        {"run": "sm kb learn 'Flaky sockets: keep SM_HOME short, socket paths are limited' "
                "'Flaky sockets!: keep SM_HOME short; socket paths are limited'"},
        {"run": "sm job done 'learned'"}, {"say": "ok"}])
    first = _add(sm_json, "investigate the flaky socket tests", "--script", str(teacher),
                 "--project", "sm")
    code, _ = _wait(sm, first["id"])
    assert code == 0
    hits = sm_json("kb", "search", "socket", "paths")
    assert [h["title"] for h in hits] == ["Flaky sockets"]  # the duplicate was merged
    assert hits[0]["seen"] == 2 and hits[0]["job_id"] == first["id"]
    assert hits[0]["project"] == "sm"
    learner = _script(script_file, "learner", [{"say": "read it"}])
    second = _add(sm_json, "fix the socket path test", "--script", str(learner),
                  "--project", "sm")
    code, _ = _wait(sm, second["id"])
    assert code == 0
    session = _show(sm_json, second["id"])["job"]["session_id"]
    (prompt,) = prompts(sm_home, session)
    assert "## Memory" in prompt
    assert "- **Flaky sockets**: keep SM_HOME short, socket paths are limited" in prompt
    assert prompt.index("## Memory") < prompt.index("## Task")
