"""Usage through the real daemon: the scripted agent writes Claude Code-shaped usage lines
into its transcript; sm reads them when the turn ends and answers ``sm usage`` and
``sm list`` from the store."""

from __future__ import annotations

import json
from pathlib import Path

from sm.cli.views import cost_text

SONNET = "claude-sonnet-4-5"  # $3 in, $15 out, $3.75 / $6 cache writes, $0.30 cache read


def _usage(model: str = SONNET, **counts: int) -> dict[str, dict[str, object]]:
    return {"usage": {"model": model, **counts}}


def test_turn_end_reads_usage_once_per_response(
    spawn, script_file, type_prompt, wait_state, sm_json, sm, events, sm_home: Path
):
    script = script_file({"rules": [
        {"match": "work", "actions": [
            # one response written as three lines (three content blocks): counted once
            _usage(input=100, output=40, cache_write_5m=1000, cache_write_1h=2000,
                   cache_read=5000, blocks=3),
            _usage(input=7, output=11),
            {"say": "worked"},
        ]},
        {"match": "other", "actions": [_usage("mystery-model-9", input=50, output=5),
                                       {"say": "done"}]},
    ]})
    rec = spawn("--name", "u1", script=script)
    type_prompt(rec["id"], "work please")
    wait_state("u1", "idle", where=lambda r: r["last_message"] == "worked")

    got = sm_json("usage", "u1")
    total = got["total"]
    assert (total["responses"], total["input_tokens"], total["output_tokens"]) == (2, 107, 51)
    assert total["cache_creation_input_tokens"] == 3000
    assert (total["cache_creation_5m_input_tokens"],
            total["cache_creation_1h_input_tokens"]) == (1000, 2000)
    assert total["cache_read_input_tokens"] == 5000
    # 107×3 + 51×15 + 1000×3.75 + 2000×6 + 5000×0.3 micro-dollars
    assert total["cost_micros"] == 321 + 765 + 3750 + 12000 + 1500
    assert total["unpriced_models"] == []
    assert got["context"]["tokens"] == 7  # the last request's prompt: its input, no cache
    assert got["context"]["window"] == 200_000
    assert got["skipped_lines"] == 0

    # a model with no price: counted, not priced, named
    type_prompt(rec["id"], "other thing")
    wait_state("u1", "idle", where=lambda r: r["last_message"] == "done")
    by_model = sm_json("usage", "u1", "--by", "model")
    models = {line["key"]: line for line in by_model["groups"]}
    assert models["mystery-model-9"]["input_tokens"] == 50
    assert models["mystery-model-9"]["cost_micros"] == 0
    assert by_model["total"]["unpriced_models"] == ["mystery-model-9"]
    assert by_model["total"]["cost_micros"] == total["cost_micros"]

    by_session = sm_json("usage", "--by", "session")
    assert by_session["labels"] == {rec["id"]: "u1"}
    assert [line["key"] for line in by_session["groups"]] == [rec["id"]]
    human = sm("usage", "--by", "session").stdout
    assert f"u1 ({rec['id']})" in human and "no price for mystery-model-9" in human
    assert "side requests (titles, …): not counted" in human

    listed = {s["id"]: s for s in sm_json("list")}
    assert listed[rec["id"]]["cost_micros"] == total["cost_micros"]
    assert listed[rec["id"]]["unpriced_models"] == ["mystery-model-9"]
    text = sm("list").stdout
    assert cost_text(total["cost_micros"], ["x"]) in text
    assert all(len(line) <= 80 for line in text.splitlines()), text


def test_malformed_and_partial_lines_are_skipped_and_counted(
    spawn, script_file, type_prompt, wait_state, sm_json
):
    script = script_file({"rules": [{"match": "go", "actions": [
        _usage(input=10, output=2), {"say": "went"}]}]})
    rec = spawn("--name", "u2", script=script)
    type_prompt(rec["id"], "go")
    done = wait_state("u2", "idle", where=lambda r: r["last_message"] == "went")
    path = Path(done["transcript_path"])
    with path.open("a") as f:
        f.write('{"type": "assistant", "message": {"id": "broken\n')  # malformed
        f.write(json.dumps({"type": "assistant", "requestId": "r9", "message": {
            "id": "m9", "model": SONNET, "usage": {"input_tokens": 3, "output_tokens": 1}}}))
        # …and no newline yet: a line still being written is not read
    got = sm_json("usage", "u2")
    assert got["total"]["responses"] == 1
    assert got["skipped_lines"] == 1
    with path.open("a") as f:
        f.write("\n")
    got = sm_json("usage", "u2")
    assert (got["total"]["responses"], got["total"]["input_tokens"]) == (2, 13)
    assert got["skipped_lines"] == 1


def test_context_threshold_event_once_per_crossing(
    spawn, script_file, type_prompt, wait_state, sm_json, events, wait_until
):
    script = script_file({"rules": [
        {"match": "big", "actions": [_usage(input=10, cache_read=170_000, output=5),
                                     {"say": "big"}]},
        {"match": "small", "actions": [_usage(input=10, output=5), {"say": "small"}]},
    ]})
    rec = spawn("--name", "u3", script=script)
    for prompt in ("big one", "big two", "small", "big three"):
        type_prompt(rec["id"], prompt)
        wait_state("u3", "idle", where=lambda r, p=prompt: r["last_message"] == p.split()[0])
    sm_json("usage", "u3")
    alerts = wait_until(lambda: events("u3", kinds=("context",)) or None, timeout=5)
    # crossed at "big one", still over at "big two" (no new event), re-armed by "small"
    wait_until(lambda: len(events("u3", kinds=("context",))) == 2, timeout=5)
    alerts = events("u3", kinds=("context",))
    assert [a["payload"]["tokens"] for a in alerts] == [170_010, 170_010]
    assert alerts[0]["payload"]["window"] == 200_000
    assert alerts[0]["payload"]["percent"] == 85.0


def test_a_context_crossing_tells_the_parent_once_and_nobody_without_one(
    spawn, script_file, type_prompt, wait_state, sm_json, events, wait_until, session_env
):
    big = _usage(input=10, cache_read=170_000, output=5)
    script = script_file({"rules": [{"match": "one", "actions": [big, {"say": "one"}]},
                                    {"match": "two", "actions": [big, {"say": "two"}]}]})
    boss = spawn("--name", "boss")
    worker = spawn("--name", "worker", script=script, env=session_env(boss["id"]))
    loner = spawn("--name", "loner", script=script)
    for prompt in ("one", "two"):  # crossed, then still over: told once
        for rec in (worker, loner):
            type_prompt(rec["id"], f"big {prompt}")
            wait_state(rec["id"], "idle", where=lambda r, p=prompt: r["last_message"] == p)
    for name in ("worker", "loner"):
        sm_json("usage", name)  # everything the agents wrote is read
        wait_until(lambda n=name: len(events(n, kinds=("context",))) == 1, timeout=5)

    def from_sm() -> list[dict[str, object]]:
        return [m for m in sm_json("messages", "-n", "500") if m["from"] == "sm"]

    told = wait_until(lambda: from_sm() or None, timeout=10)
    assert [(m["to"], m["body"]) for m in told] == [(
        boss["id"], "context: worker is at 85% of its 200k window (claude-sonnet-4-5): hand off "
        "or clear (sm clear worker)")]
    wait_until(lambda: sm_json("message", told[0]["id"])["state"] == "delivered", timeout=20)
    assert len(from_sm()) == 1


def test_usage_of_a_job_and_of_a_project(
    sm, sm_json, spawn, script_file, type_prompt, wait_state, sm_home: Path
):
    work, elsewhere, idle = (sm_home / name for name in ("work", "elsewhere", "idle"))
    for d in (work, elsewhere, idle):
        d.mkdir()
    # the first attempt fails its check, the second passes: two sessions, both spending
    flaky = script_file({"default": [
        {"run": "if [ -f first ]; then touch second; else touch first; fi"},
        _usage(input=100, output=10), {"say": "tried"}]}, "flaky.yaml")
    (job,) = sm_json("job", "add", "flaky work", "--agent", "scripted", "--script", str(flaky),
                     "--cwd", str(work), "--check", "command:test -f second", "--retry",
                     "same", "--attempts", "3", "--backoff", "0.1")
    done = sm("job", "wait", job["id"], "--timeout", "60", "--json", timeout=90)
    assert json.loads(done.stdout)["items"][0]["state"] == "succeeded"
    other = script_file({"rules": [{"match": "go", "actions": [_usage(input=7, output=1),
                                                               {"say": "went"}]}]})
    rec = spawn("--name", "outsider", "--cwd", str(elsewhere), script=other)
    type_prompt(rec["id"], "go")
    wait_state("outsider", "idle", where=lambda r: r["last_message"] == "went")

    got = sm_json("usage", "--job", job["id"], "--by", "session")
    assert len(got["job"]["sessions"]) == 2 and got["job"]["id"] == job["id"]
    assert (got["total"]["responses"], got["total"]["input_tokens"]) == (2, 200)
    assert sorted(line["key"] for line in got["groups"]) == sorted(got["job"]["sessions"])
    assert got["session"] is None and got["context"] is None
    human = sm("usage", "--job", job["id"]).stdout
    assert f"job {job['id']}: 2 sessions" in human

    # a project is every session started in the directory: the job's two, not the outsider
    project = sm_json("usage", "--project", str(work))
    assert project["project"] == str(work.resolve())
    assert project["total"] == {**got["total"], "key": ""}
    assert sm_json("usage", "--project", str(elsewhere))["total"]["input_tokens"] == 7
    assert sm_json("usage")["total"]["input_tokens"] == 207
    # a directory nobody spent in: an honest zero; one that is not there: an error
    empty = sm_json("usage", "--project", str(idle))
    assert (empty["total"]["responses"], empty["total"]["cost_micros"]) == (0, 0)
    for args, code, why in (
        (("--project", str(sm_home / "nowhere")), 1, "no project"),
        (("--job", "nosuch"), 1, "no job 'nosuch'"),
        (("--job", job["id"], "--project", str(work)), 2, "expected one of a session, a job"),
        (("outsider", "--job", job["id"]), 2, "usage of a session and a job"),
    ):
        bad = sm("usage", *args, check=False)
        assert (bad.returncode, why in bad.stderr) == (code, True), bad.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(port: int, body: bytes, headers: dict[str, str], path: str = "/v1/logs") -> int:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, body, headers)
        return conn.getresponse().status
    finally:
        conn.close()


def test_telemetry_side_requests_are_counted_apart(
    spawn, script_file, type_prompt, wait_state, sm_json, sm_env, sm_home: Path
):
    port = _free_port()
    sm_env.update(SM_USAGE_TELEMETRY="1", SM_USAGE_TELEMETRY_PORT=str(port))
    script = script_file({"rules": [{"match": "go", "actions": [
        _usage(input=10, output=2), {"say": "went"}]}]})
    rec = spawn("--name", "u4", script=script)
    type_prompt(rec["id"], "go")
    wait_state("u4", "idle", where=lambda r: r["last_message"] == "went")
    secret = (sm_home / "telemetry.secret").read_text().strip()
    assert oct((sm_home / "telemetry.secret").stat().st_mode & 0o777) == "0o600"

    def request(rid: str, model: str, source: str, tokens: int) -> dict[str, object]:
        def a(key: str, value: object) -> dict[str, object]:
            kind = "intValue" if isinstance(value, int) else "stringValue"
            return {"key": key, "value": {kind: str(value) if kind == "intValue" else value}}

        return {"attributes": [a("event.name", "api_request"), a("request_id", rid),
                               a("model", model), a("query_source", source),
                               a("input_tokens", tokens), a("output_tokens", 3),
                               a("cost_usd_micros", 1)]}

    transcript = [json.loads(x) for x in Path(
        sm_json("status", "u4")["transcript_path"]).read_text().splitlines()]
    main_request = next(x["requestId"] for x in transcript if x.get("requestId"))
    doc = {"resourceLogs": [{
        "resource": {"attributes": [{"key": "sm.session", "value": {"stringValue": rec["id"]}}]},
        "scopeLogs": [{"logRecords": [
            request(main_request, SONNET, "repl_main_thread", 10),  # in the transcript too
            request("req-title", "claude-haiku-5-5", "generate_session_title", 1000),
        ]}]}]}
    body = json.dumps(doc).encode()
    ok = {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"}
    assert _post(port, body, {"Content-Type": "application/json"}) == 401
    assert _post(port, body, ok, path="/v1/metrics") == 404
    assert _post(port, b"{not json", ok) == 400
    assert _post(port, body, ok) == 200
    assert _post(port, body, ok) == 200  # an export sent twice counts once

    got = sm_json("usage", "u4")
    assert got["total"]["responses"] == 1 and got["total"]["input_tokens"] == 10
    side = got["side"]["total"]
    assert (side["responses"], side["input_tokens"], side["output_tokens"]) == (1, 1000, 3)
    assert side["cost_micros"] == 100 + 2  # claude-haiku-5-5: $0.10 in, $0.50 out


def test_each_read_writes_a_usage_event_and_the_snapshot_carries_cost_and_context(
    spawn, script_file, type_prompt, wait_state, sm_json, sm_home: Path, wait_until,
):
    from sm.client import Client

    script = script_file({"rules": [
        {"match": "work", "actions": [_usage(input=100_000, output=20_000, cache_read=26_000),
                                      _usage(input=1_000, output=10, blocks=2),
                                      {"say": "worked"}]},
    ]})
    rec = spawn("--name", "u5", script=script)
    quiet = spawn("--name", "u6")
    type_prompt(rec["id"], "work please")
    wait_state("u5", "idle", where=lambda r: r["last_message"] == "worked")
    cost = 300_000 + 300_000 + 7_800 + 3_000 + 150
    read = wait_until(lambda: sm_json("events", "u5", "--kind", "usage"), timeout=10)
    assert len(read) == 1  # one read of the turn's records, two responses in it
    payload = read[0]["payload"]
    assert (payload["cost_micros"], payload["unpriced_models"], payload["responses"]) == \
        (cost, [], 2)
    assert payload["context"]["tokens"] == 1_000  # the last request's prompt
    assert (payload["context"]["window"], payload["context"]["percent"]) == (200_000, 0.5)

    snap = Client(home=str(sm_home), token="", session_id="").get("/events/snapshot")
    by_id = {s["id"]: s for s in snap["payload"]["sessions"]}
    assert by_id[rec["id"]]["cost_micros"] == cost
    assert by_id[rec["id"]]["context"]["tokens"] == 1_000
    assert (by_id[quiet["id"]]["cost_micros"], by_id[quiet["id"]]["context"]) == (0, None)
    assert snap["seq"] >= read[0]["seq"]
