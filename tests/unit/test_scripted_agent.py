"""The scripted agent: key parsing, script loading, hook verdicts, and the program driven
through pipes (no tmux; the tty-only parts are checked by the integration tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sm.agents.scripted_agent import start_admitted
from sm.agents.scripted_hooks import HookResult, Hooks, hook_decision, run_shell
from sm.agents.scripted_keys import Key, KeyParser
from sm.agents.scripted_screen import render_composer
from sm.agents.scripted_script import (
    Crash,
    Exit,
    Permission,
    Run,
    Say,
    ScriptError,
    Sleep,
    StartLimit,
    Write,
    expand,
    load_script,
    read_script,
)
from sm.agents.scripted_transcript import Transcript, received

ROOT = Path(__file__).resolve().parents[2]


def feed_all(chunks: list[bytes]) -> list[Key]:
    parser = KeyParser()
    keys = [key for chunk in chunks for key in parser.feed(chunk)]
    return keys + parser.flush()


# -- key stream ---------------------------------------------------------------------


def test_typed_text_then_enter() -> None:
    assert feed_all([b"hello world\r"]) == [Key("text", "hello world"), Key("enter")]


def test_control_keys() -> None:
    keys = feed_all([b"ab\x7f\x08\x15\x03\x04"])
    assert [k.kind for k in keys] == ["text", "backspace", "backspace", "clear", "interrupt", "eof"]


def test_other_control_characters_are_ignored() -> None:
    assert feed_all([b"a\x01\x02b"]) == [Key("text", "a"), Key("text", "b")]


def test_newline_outside_a_paste_is_text_not_submit() -> None:
    assert feed_all([b"one\ntwo"]) == [Key("text", "one\ntwo")]


def test_bracketed_paste_keeps_newlines_and_key_names_verbatim() -> None:
    body = b"line one\rline two\nEnter C-a F10\r\nend"
    keys = feed_all([b"\x1b[200~" + body + b"\x1b[201~"])
    assert keys == [Key("paste", "line one\nline two\nEnter C-a F10\nend")]


def test_enter_after_a_paste_submits() -> None:
    keys = feed_all([b"\x1b[200~a\rb\x1b[201~\r"])
    assert keys == [Key("paste", "a\nb"), Key("enter")]


@pytest.mark.parametrize("cut", range(1, 24))
def test_paste_split_anywhere_across_reads(cut: int) -> None:
    data = b"x\x1b[200~p\x1b[Aq\x1b[201~\r"
    keys = feed_all([data[:cut], data[cut:]])
    assert keys == [Key("text", "x"), Key("paste", "p\x1b[Aq"), Key("enter")]


def test_lone_escape_waits_for_the_timeout() -> None:
    parser = KeyParser()
    assert parser.feed(b"\x1b") == []
    assert parser.pending_escape
    assert parser.flush() == [Key("escape")]
    assert not parser.pending_escape


def test_escape_sequence_split_across_reads_is_not_escape() -> None:
    parser = KeyParser()
    assert parser.feed(b"\x1b") == []
    assert parser.feed(b"[A") == [Key("sequence", "\x1b[A")]
    assert parser.flush() == []


def test_escape_followed_by_other_text_is_escape_then_text() -> None:
    assert feed_all([b"\x1b/clear\r"]) == [Key("escape"), Key("text", "/clear"), Key("enter")]


def test_double_escape() -> None:
    assert feed_all([b"\x1b\x1b"]) == [Key("escape"), Key("escape")]


def test_unfinished_sequence_is_dropped_on_timeout() -> None:
    parser = KeyParser()
    assert parser.feed(b"\x1b[1;") == []
    assert parser.flush() == []
    assert parser.feed(b"ok") == [Key("text", "ok")]


def test_utf8_split_across_reads() -> None:
    data = "é€😀".encode()
    keys = feed_all([data[i : i + 1] for i in range(len(data))])
    assert "".join(k.text for k in keys) == "é€😀"
    assert {k.kind for k in keys} == {"text"}


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert feed_all([b"a\xffb"]) == [Key("text", "a\ufffdb")]


def test_big_paste_in_tty_sized_chunks_is_exact_and_fast() -> None:
    body = ("0123456789 Enter C-a é\r\n" * 5000).encode()  # ~125 KB
    data = b"\x1b[200~" + body + b"\x1b[201~\r"
    started = time.perf_counter()
    keys = feed_all([data[i : i + 4096] for i in range(0, len(data), 4096)])
    elapsed = time.perf_counter() - started
    assert keys == [Key("paste", body.decode().replace("\r\n", "\n")), Key("enter")]
    assert elapsed < 0.5


def test_big_typed_text_is_one_key_per_read() -> None:
    keys = feed_all([b"a" * 65536])
    assert keys == [Key("text", "a" * 65536)]


# -- composer -------------------------------------------------------------------------


def test_render_composer() -> None:
    assert render_composer("") == ["❯ "]
    assert render_composer("a\nb") == ["❯ a", "  b"]
    collapsed = render_composer("x\n" * 50 + "tail")
    assert len(collapsed) == 1
    assert "+51 lines" in collapsed[0] and collapsed[0].endswith("tail")


# -- hooks ----------------------------------------------------------------------------


def result(stdout: str = "", code: int = 0, stderr: str = "") -> HookResult:
    return HookResult(code, stdout, stderr)


def test_hook_decision() -> None:
    deny = {"hookSpecificOutput": {"permissionDecision": "deny", "permissionDecisionReason": "r"}}
    assert hook_decision([result(json.dumps(deny))]) == ("deny", "r")
    assert hook_decision([result(code=2, stderr="locked by em\n")]) == ("deny", "locked by em")
    assert hook_decision([result('{"decision": "block", "reason": "x"}')]) == ("deny", "x")
    ask = {"hookSpecificOutput": {"permissionDecision": "ask"}}
    assert hook_decision([result(json.dumps(ask))]) == ("ask", "")
    allow = {"hookSpecificOutput": {"permissionDecision": "allow"}}
    assert hook_decision([result(json.dumps(allow)), result("not json"), result("[]")]) is None
    assert hook_decision([result(code=1, stderr="oops")]) is None


def group(matcher: str, command: str) -> dict[str, object]:
    return {"matcher": matcher, "hooks": [{"type": "command", "command": command, "timeout": 5}]}


def test_hooks_select_commands_by_matcher() -> None:
    settings = {
        "hooks": {
            "PreToolUse": [group("*", "all"), group("Bash", "bash"), group("Edit|Write", "edit")],
            "SessionStart": [group("resume", "on-resume"), {"hooks": [{"command": "any"}]}],
            "Stop": [group("ignored", "stop")],
        }
    }
    hooks = Hooks(settings, "/tmp")
    assert hooks.commands("PreToolUse", {"tool_name": "Bash"}) == [("all", 5), ("bash", 5)]
    assert hooks.commands("PreToolUse", {"tool_name": "Write"}) == [("all", 5), ("edit", 5)]
    assert hooks.commands("SessionStart", {"source": "startup"}) == [("any", 60)]
    assert hooks.commands("Stop", {}) == [("stop", 5)]
    assert hooks.commands("Notification", {}) == []


@pytest.mark.parametrize("settings", [[], {"hooks": []}, {"hooks": {"Stop": [{"x": 1}]}}])
def test_hooks_reject_bad_settings(settings: object) -> None:
    with pytest.raises(ValueError):
        Hooks(settings, "/tmp")


def test_hooks_run_with_payload_on_stdin(tmp_path: Path) -> None:
    settings = {"hooks": {"Stop": [{"hooks": [{"command": "cat; echo; echo err >&2; exit 3"}]}]}}
    results = Hooks(settings, str(tmp_path)).run("Stop", {"a": 1})
    assert results == [HookResult(3, '{"a": 1}\n', "err\n")]


def test_hook_timeout_kills_the_command(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_shell("sleep 5", str(tmp_path), b"{}", 0.2, None)
    assert result == HookResult(124, "", "timed out after 0.2 s")
    assert time.monotonic() - started < 2


def test_a_hook_that_reads_late_gets_all_of_a_payload_bigger_than_the_pipe(
    tmp_path: Path,
) -> None:
    # the pipe holds 64 KB: the rest must still be written, and stdin closed, after the
    # first poll of the process has passed
    result = run_shell("sleep 0.2; wc -c", str(tmp_path), b"y" * 200_000, 5, None)
    assert result is not None
    assert (result.exit_code, result.stdout.strip()) == (0, "200000")


def test_a_cancelled_hook_still_gets_its_whole_payload(tmp_path: Path) -> None:
    cancelled = threading.Event()
    threading.Timer(0.05, cancelled.set).start()
    command = "sleep 0.2; wc -c > count.tmp; mv count.tmp count"
    assert run_shell(command, str(tmp_path), b"y" * 200_000, 5, cancelled) is None
    wait_until(lambda: (tmp_path / "count").exists())
    assert (tmp_path / "count").read_text().strip() == "200000"


def test_cancel_returns_at_once_and_kills_a_tool_run(tmp_path: Path) -> None:
    cancelled = threading.Event()
    threading.Timer(0.1, cancelled.set).start()
    started = time.monotonic()
    assert run_shell("sleep 5; touch ran", str(tmp_path), None, None, cancelled, True) is None
    assert time.monotonic() - started < 1
    time.sleep(0.1)
    assert not (tmp_path / "ran").exists()


def test_other_hook_types_are_skipped() -> None:
    settings = {"hooks": {"Stop": [{"hooks": [{"type": "prompt", "prompt": "x"}]}]}}
    assert Hooks(settings, "/tmp").commands("Stop", {}) == []


def test_transcript_counts_messages(tmp_path: Path) -> None:
    transcript = Transcript(str(tmp_path / "t"))
    assert transcript.count("c1") is None
    transcript.append("c1", {"type": "user", "prompt": "hi"})
    transcript.append("c1", {"type": "assistant", "text": "ok"})
    assert transcript.count("c1") == 2


# -- script ---------------------------------------------------------------------------

SCRIPT = """
default:
  - say: "default for {prompt}"
rules:
  - match: build
    actions:
      - say: "Building…"
      - sleep: 0.5
      - run: "echo {prompt} in {session_id} ${HOME} {other}"
      - write: {path: "out/{session_id}.txt", content: "hi"}
      - permission: Bash
      - crash: 3
      - exit: 0
  - regex: "^deploy (\\\\w+)$"
    actions: [{say: deployed}]
  - match: build now
    actions: []
"""


def test_load_script_and_plan_first_match_wins() -> None:
    script = load_script(SCRIPT, "s.yaml")
    assert script.plan("please build now", "S1") == (
        Say("Building…"),
        Sleep(0.5),
        Run("echo please build now in S1 ${HOME} {other}"),
        Write("out/S1.txt", "hi"),
        Permission("Bash"),
        Crash(3),
        Exit(0),
    )
    assert script.plan("deploy prod", "S1") == (Say("deployed"),)
    assert script.plan("deploy prod now", "S1") == (Say("default for deploy prod now"),)


def test_substring_match_is_case_sensitive() -> None:
    script = load_script(SCRIPT, "s.yaml")
    assert script.plan("BUILD", "S") == (Say("default for BUILD"),)


def test_no_default_says_ok_with_the_first_60_chars() -> None:
    script = load_script("rules: []", "s.yaml")
    prompt = "{session_id} " + "x" * 100
    assert script.plan(prompt, "S") == (Say("ok: " + prompt[:60]),)
    assert load_script("", "empty.yaml").plan("hi", "S") == (Say("ok: hi"),)


def test_placeholders_in_the_prompt_are_not_expanded() -> None:
    assert expand("<{prompt}>", "{session_id}", "S") == "<{session_id}>"
    assert expand("{prompt} {session_id} {x} {{prompt}}", "p", "S") == "p S {x} {p}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "rules:\n  - match: a\n    actions: [{say: x}]\n  - match: b\n    actions: [{sya: x}]",
            "s.yaml: rule 2: unknown action 'sya'",
        ),
        ("rules: [{match: a, regex: b, actions: []}]", "rule 1: needs exactly one of"),
        ("rules: [{actions: []}]", "rule 1: needs exactly one of"),
        ("rules: [{match: a}]", "rule 1: missing 'actions'"),
        ("rules: [{regex: '(', actions: []}]", "rule 1: bad regex '('"),
        ("rules: [{match: a, actions: [{sleep: -1}]}]", "rule 1: sleep: expected a non-negative"),
        ("rules: [{match: a, actions: [{crash: true}]}]", "rule 1: crash: expected an exit code"),
        ("rules: [{match: a, actions: [{exit: 300}]}]", "rule 1: exit: expected an exit code"),
        ("rules: [{match: a, actions: [{say: 3}]}]", "rule 1: say: expected a string, got 3"),
        (
            "rules: [{match: a, actions: [{write: {path: p, mode: x}}]}]",
            "write: unknown key 'mode'",
        ),
        ("rules: [{match: a, actions: [{say: a, run: b}]}]", "rule 1: each action is a one-key"),
        ("rules: [{match: a, actions: {say: a}}]", "rule 1: 'actions' must be a list"),
        ("rules: [{match: a, actions: [], when: x}]", "rule 1: unknown key 'when'"),
        ("default: [{nope: 1}]", "default: unknown action 'nope'"),
        ("rules: {match: a}", "'rules' must be a list"),
        ("- say: a", "expected a mapping with 'rules' and/or 'default'"),
        ("rulez: []", "script: unknown key 'rulez'"),
        ("start_limit: {max: 0, within: 2, ledger: l}", "start_limit: max: expected a whole"),
        ("start_limit: {max: 2, within: -1, ledger: l}", "start_limit: expected a non-neg"),
        ("start_limit: {max: 2, within: 2}", "start_limit: expected a string, got None"),
        ("start_limit: {max: 2, within: 2, ledger: l, by: x}", "start_limit: unknown key 'by'"),
        ("rules: [\n  {match: a", "s.yaml: invalid YAML at line"),
    ],
)
def test_bad_scripts_fail_with_one_line_naming_the_place(text: str, message: str) -> None:
    with pytest.raises(ScriptError) as raised:
        load_script(text, "s.yaml")
    assert message in str(raised.value)
    assert str(raised.value).startswith("s.yaml: ")
    assert "\n" not in str(raised.value)


def test_the_start_limit_refuses_a_start_after_max_others_within_the_window(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "starts"
    script = load_script(f"start_limit: {{max: 2, within: 3, ledger: {ledger}}}", "s.yaml")
    limit = script.start_limit
    assert limit == StartLimit(2, 3.0, str(ledger))
    assert [start_admitted(limit, t) for t in (100.0, 101.0, 102.0, 103.5, 104.5)] == \
        [True, True, False, False, False]  # a refused start counts: it reached the service
    assert start_admitted(limit, 110.0)  # a quiet spell later
    assert len(ledger.read_text().split()) == 6


def test_read_script_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match=r"nope.yaml: cannot read: No such file"):
        read_script(str(tmp_path / "nope.yaml"))


# -- the program, driven through pipes ---------------------------------------------------


def wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)


class Agent:
    """The program on pipes: stdin for keys, a file for the screen, a log of hook payloads."""

    def __init__(
        self, tmp: Path, script: str, *args: str, pre_tool: str = "", speed: str = "1"
    ) -> None:
        self.tmp, self.log, self.screen_file = tmp, tmp / "hooks.log", tmp / "screen"
        record = f"cat >> {self.log}; echo >> {self.log}"
        events = ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop"]
        hooks = {e: [{"hooks": [{"type": "command", "command": record}]}] for e in events}
        hooks |= {e: [{"hooks": [{"command": record}]}] for e in ["Notification", "SessionEnd"]}
        if pre_tool:
            hooks["PreToolUse"].append({"matcher": "Bash", "hooks": [{"command": pre_tool}]})
        (tmp / "settings.json").write_text(json.dumps({"hooks": hooks}))
        (tmp / "script.yaml").write_text(script)
        argv = [
            sys.executable,
            "-m",
            "sm.agents.scripted_agent",
            "--settings",
            str(tmp / "settings.json"),
        ]
        argv += ["--script", str(tmp / "script.yaml"), "--transcript-dir", str(tmp / "t")]
        argv += ["--cwd", str(tmp), *(args or ("--session-id", "C1"))]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SM_SCRIPTED_SPEED": speed}
        self._screen = self.screen_file.open("wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=self._screen, env=env)
        wait_until(lambda: "❯" in self.screen())

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def screen(self) -> str:
        return self.screen_file.read_bytes().decode(errors="replace")

    def hooks(self, event: str | None = None) -> list[dict[str, object]]:
        text = self.log.read_text() if self.log.exists() else ""
        payloads = [json.loads(line) for line in text.splitlines() if line]
        return [p for p in payloads if event is None or p["hook_event_name"] == event]

    def transcript(self, conversation: str = "C1") -> list[dict[str, object]]:
        path = self.tmp / "t" / f"{conversation}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]

    def close(self) -> int:
        if self.proc.poll() is None and self.proc.stdin is not None:
            self.proc.stdin.close()
        code = self.proc.wait(5)
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        self._screen.close()
        return code


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Agent]]:
    agents: list[Agent] = []

    def _start(script: str = "", *args: str, **kw: str) -> Agent:
        agents.append(Agent(tmp_path, script, *args, **kw))
        return agents[-1]

    yield _start
    for agent in agents:
        if agent.proc.poll() is None:
            agent.proc.kill()
        agent.close()


def test_a_turn_fires_hooks_in_order_and_records_the_transcript(start) -> None:
    agent = start("rules: [{match: hi, actions: [{say: one}, {say: 'two {prompt}'}]}]")
    agent.send(b"hi there\r")
    wait_until(lambda: agent.hooks("Stop"))
    events = [p["hook_event_name"] for p in agent.hooks()]
    assert events == ["SessionStart", "UserPromptSubmit", "Stop"]
    start_payload, prompt, stop = agent.hooks()
    assert start_payload["source"] == "startup" and start_payload["session_id"] == "C1"
    assert prompt["prompt"] == "hi there"
    assert stop["last_assistant_message"] == "two hi there" and stop["stop_hook_active"] is False
    assert stop["transcript_path"] == str(agent.tmp / "t" / "C1.jsonl")
    assert [r["type"] for r in agent.transcript()] == ["user", "assistant", "assistant"]
    agent.send(b"\x04")
    assert agent.close() == 0
    assert agent.hooks("SessionEnd")[0]["reason"] == "prompt_input_exit"


def test_prompts_typed_during_a_turn_are_queued_and_run_as_one_turn(start) -> None:
    agent = start("rules: [{match: slow, actions: [{sleep: 1}, {say: first}]}]")
    agent.send(b"slow\r")
    wait_until(lambda: agent.hooks("UserPromptSubmit"))
    agent.send(b"second\r")
    agent.send(b"third\r")
    wait_until(lambda: len(agent.hooks("UserPromptSubmit")) == 3)
    assert agent.hooks("Stop") == []  # queued prompts are announced at once
    assert "(queued) second" in agent.screen()
    wait_until(lambda: len(agent.hooks("Stop")) == 2)
    last = agent.hooks("Stop")[1]["last_assistant_message"]
    assert last == "ok: second\nthird"
    assert [r.get("prompt") for r in agent.transcript() if r["type"] == "user"] == [
        "slow",
        "second",
        "third",
    ]


def test_escape_before_any_output_puts_the_prompt_back_and_runs_queued_ones(start) -> None:
    agent = start("rules: [{match: slow, actions: [{sleep: 30}, {say: never}]}]")
    agent.send(b"slow\r")
    wait_until(lambda: agent.hooks("UserPromptSubmit"))
    agent.send(b"later\r")
    wait_until(lambda: len(agent.hooks("UserPromptSubmit")) == 2)
    agent.send(b"\x1b")
    # like Claude Code: no Stop for the interrupted turn; the prompt queued meanwhile is
    # sent at once (it fired UserPromptSubmit when queued: no second one)
    wait_until(lambda: agent.hooks("Stop"))
    assert [p["last_assistant_message"] for p in agent.hooks("Stop")] == ["ok: later"]
    assert len(agent.hooks("UserPromptSubmit")) == 2
    # the interrupted prompt had shown nothing: it is back in the composer, and out of
    # the conversation
    assert agent.screen().rstrip().endswith("❯ slow")
    assert received(str(agent.tmp / "t" / "C1.jsonl")) == ["later"]
    agent.send(b"\x15")  # Ctrl-U


def test_escape_after_output_leaves_the_prompt_in_the_conversation(start) -> None:
    agent = start("rules: [{match: slow, actions: [{say: started}, {sleep: 30}]}]")
    agent.send(b"slow\r")
    wait_until(lambda: "started" in agent.screen())
    agent.send(b"\x1b")
    wait_until(lambda: "Interrupted by user" in agent.screen())
    assert agent.screen().rstrip().endswith("❯")
    assert received(str(agent.tmp / "t" / "C1.jsonl")) == ["slow"]
    assert agent.hooks("Stop") == []


def test_a_prompt_typed_during_a_tool_call_rides_along_in_the_same_turn(start) -> None:
    agent = start("rules: [{match: build, actions: [{run: 'sleep 1'}, {say: built}]},"
                  " {match: docs, actions: [{say: documented}]}]", speed="1")
    agent.send(b"build\r")
    wait_until(lambda: agent.hooks("PreToolUse"))
    time.sleep(0.3)  # the tool runs (its PreToolUse hook has returned)
    agent.send(b"docs too\r")
    wait_until(lambda: agent.hooks("Stop"), timeout=10)
    time.sleep(0.3)
    events = [p["hook_event_name"] for p in agent.hooks()]
    assert events == ["SessionStart", "UserPromptSubmit", "PreToolUse", "UserPromptSubmit",
                      "PostToolUse", "Stop"]  # one turn answers both
    assert agent.hooks("Stop")[0]["last_assistant_message"] == "documented"


def test_pre_tool_use_deny_refuses_the_command(start, tmp_path: Path) -> None:
    deny = {"hookSpecificOutput": {"permissionDecision": "deny", "permissionDecisionReason": "no"}}
    script = "rules: [{match: go, actions: [{run: 'touch ran'}, {say: after}]}]"
    agent = start(script, pre_tool=f"echo '{json.dumps(deny)}'")
    agent.send(b"go\r")
    wait_until(lambda: agent.hooks("Stop"))
    assert "⎿  Refused: no" in agent.screen()
    assert not (tmp_path / "ran").exists()
    assert agent.hooks("PostToolUse") == []
    assert agent.hooks("PreToolUse")[0]["tool_input"] == {"command": "touch ran"}


def test_run_and_write_tools(start, tmp_path: Path) -> None:
    script = """rules: [{match: go, actions: [
        {run: 'echo out; echo err >&2; exit 4'}, {write: {path: 'd/n.txt', content: 'x'}}]}]"""
    agent = start(script)
    agent.send(b"go\r")
    wait_until(lambda: agent.hooks("Stop"))
    bash, write = agent.hooks("PostToolUse")
    assert bash["tool_response"] == {
        "stdout": "out\n",
        "stderr": "err\n",
        "exit_code": 4,
        "interrupted": False,
    }
    assert write["tool_input"] == {"file_path": str(tmp_path / "d" / "n.txt"), "content": "x"}
    assert (tmp_path / "d" / "n.txt").read_text() == "x"


def test_permission_prompt_swallows_text_and_deny_ends_the_turn(start) -> None:
    agent = start("rules: [{match: ask, actions: [{permission: Bash}, {say: allowed}]}]")
    agent.send(b"ask\r")
    wait_until(lambda: agent.hooks("Notification"))
    note = agent.hooks("Notification")[0]
    assert note["notification_type"] == "permission_prompt"
    assert note["message"] == "Claude needs your permission to use Bash"
    agent.send(b"hello")
    agent.send(b"3")
    wait_until(lambda: agent.hooks("Stop"))
    assert "⎿  Denied" in agent.screen()
    agent.send(b"ask\r")
    wait_until(lambda: len(agent.hooks("Notification")) == 2)
    agent.send(b"\r")
    wait_until(lambda: len(agent.hooks("Stop")) == 2)
    assert agent.hooks("Stop")[1]["last_assistant_message"] == "allowed"
    assert [p["prompt"] for p in agent.hooks("UserPromptSubmit")] == ["ask", "ask"]


def test_clear_starts_a_new_conversation(start) -> None:
    agent = start()
    agent.send(b"/clear\r")
    wait_until(lambda: len(agent.hooks("SessionStart")) == 2)
    end, new = agent.hooks("SessionEnd")[0], agent.hooks("SessionStart")[1]
    assert end["reason"] == "clear" and end["session_id"] == "C1"
    assert new["source"] == "clear" and new["session_id"] != "C1"
    assert agent.hooks("UserPromptSubmit") == [] and agent.hooks("Stop") == []
    agent.send(b"/exit\r")
    assert agent.close() == 0
    assert agent.hooks("SessionEnd")[1]["reason"] == "prompt_input_exit"


def test_resume_reloads_without_rerunning_the_prompt(start, tmp_path: Path) -> None:
    first = start()
    first.send(b"hello\r")
    wait_until(lambda: first.hooks("Stop"))
    first.send(b"\x03\x03")
    assert first.close() == 0
    first.log.unlink()
    second = start("", "--resume", "C1")
    assert "Resumed conversation C1 (2 messages)" in second.screen()
    second.send(b"/exit\r")
    assert second.close() == 0
    assert [p["hook_event_name"] for p in second.hooks()] == ["SessionStart", "SessionEnd"]
    assert second.hooks()[0]["source"] == "resume" and second.hooks()[0]["session_id"] == "C1"
    assert len(second.transcript()) == 2


def test_speed_scales_sleeps(start) -> None:
    agent = start("rules: [{match: nap, actions: [{sleep: 60}, {say: woke}]}]", speed="0.001")
    agent.send(b"nap\r")
    wait_until(lambda: agent.hooks("Stop"), timeout=3)
    assert agent.hooks("Stop")[0]["last_assistant_message"] == "woke"


def test_crash_action_exits_without_hooks(start) -> None:
    agent = start("rules: [{match: die, actions: [{crash: 3}]}]")
    agent.send(b"die\r")
    assert agent.proc.wait(5) == 3
    assert agent.hooks("SessionEnd") == [] and agent.hooks("Stop") == []


def test_exit_action_fires_session_end(start) -> None:
    agent = start("rules: [{match: bye, actions: [{exit: 5}]}]")
    agent.send(b"bye\r")
    assert agent.proc.wait(5) == 5
    assert agent.hooks("SessionEnd")[0]["reason"] == "other"


def run_program(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "sm.agents.scripted_agent", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)


def test_bad_script_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text("{}")
    bad = "rules:\n  - match: a\n    actions: [{say: x}]\n  - match: b\n    actions: [{sya: x}]\n"
    (tmp_path / "script.yaml").write_text(bad)
    done = run_program(
        "--settings", str(tmp_path / "s.json"), "--script", str(tmp_path / "script.yaml"),
        "--session-id", "C", "--transcript-dir", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith(
        f"scripted: {tmp_path / 'script.yaml'}: rule 2: unknown action 'sya'"
    )
    assert done.stderr.count("\n") == 1


def test_resume_of_an_unknown_conversation_exits_1(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text("{}")
    done = run_program(
        "--settings", str(tmp_path / "s.json"), "--script-text", "",
        "--resume", "nope", "--transcript-dir", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 1
    assert "No conversation found with session ID: nope" in done.stderr


def test_every_built_in_script_loads() -> None:
    """The daemon does not read the built-in default script at each spawn: this does."""
    from sm.agents.scripted import DEFAULT_SCRIPT

    scripts = sorted(DEFAULT_SCRIPT.parent.glob("*.yaml"))
    assert DEFAULT_SCRIPT in scripts and len(scripts) >= 3
    for path in scripts:
        read_script(str(path))
