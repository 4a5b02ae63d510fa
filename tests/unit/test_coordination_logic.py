"""Pure coordination logic: delays, durations, digests, role templates, dispatch
parameters, and the scheduler's sleeping (no tmux, no sockets, no daemon)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from sm.cli.coordination import parse_params
from sm.core import dispatch
from sm.core.reminders import ChildStatus, format_digest, format_duration, parse_delay
from sm.core.scheduler import Scheduler
from sm.errors import InvalidInput


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), ("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("2d", 172800),
    ("0.5s", 0.5), (" 10M ", 600), ("1m30s", 90),
])
def test_parse_delay(text: str, seconds: float) -> None:
    assert parse_delay(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m", "-5m", "0s", "5 minutes", "1h 30", "1.2.3s"])
def test_parse_delay_refuses(text: str) -> None:
    with pytest.raises(InvalidInput, match="invalid delay"):
        parse_delay(text)


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (59, "59s"), (60, "1m"), (90, "1m30s"), (3600, "1h"), (3725, "1h2m5s"),
    (86400 + 60, "1d1m"),
])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def _child(cid: str, mark: int, status: str | None = None, complete: bool = False
           ) -> ChildStatus:
    return ChildStatus(cid, f"name-{cid}", "running", status, mark, complete)


def test_digest_flags_a_child_whose_status_did_not_move() -> None:
    children = [_child("a", 7, "tests"), _child("b", 9, "docs"), _child("c", 0),
                _child("d", 4, "task complete: x", complete=True), _child("e", 3, "new")]
    text = format_digest("lead", children, before={"a": 7, "b": 5, "c": 0, "d": 4})
    assert text.splitlines() == [
        "[sm digest] 5 children of lead:",
        "  name-a (running): tests — NO PROGRESS",
        "  name-b (running): docs",
        "  name-c (running): no status yet — NO PROGRESS",
        "  name-d (running): task complete: x (task complete)",
        "  name-e (running): new",  # not in the previous digest: nothing to compare
    ]


# -- role templates ---------------------------------------------------------------------------
ROLES = """
roles:
  tester:
    description: Test something.
    required: [task]
    optional: {level: unit, done_when: ""}
    template: |
      {agent} tests {task} at the {level} level for {parent} ({role}).
      {{task}} is literal; so are {braces with spaces} and {"json": 1}.
"""


def _role(text: str = ROLES, name: str = "tester") -> dispatch.Role:
    return dispatch.load_roles(text, "t.yaml")[name]


def test_expand_fills_params_defaults_and_builtins() -> None:
    text = dispatch.expand(_role(), {"task": "the parser"},
                           {"agent": "w", "parent": "em", "role": "tester"})
    assert text == ("w tests the parser at the unit level for em (tester).\n"
                    '{task} is literal; so are {braces with spaces} and {"json": 1}.')
    text = dispatch.expand(_role(), {"task": "x", "level": "e2e"},
                           {"agent": "w", "parent": "em", "role": "tester"})
    assert "at the e2e level" in text


def test_expand_names_unknown_missing_and_unresolved() -> None:
    builtins = {"agent": "w", "parent": "em", "role": "tester"}
    with pytest.raises(InvalidInput, match=r"unknown parameter\(s\) --colour, --size "
                                           r"\(expected: --task, --level, --done-when\)"):
        dispatch.expand(_role(), {"task": "x", "colour": "red", "size": "L"}, builtins)
    with pytest.raises(InvalidInput, match=r"missing required parameter\(s\) --task"):
        dispatch.expand(_role(), {"task": "  "}, builtins)
    broken = _role("roles: {b: {template: 'uses {ghost} and {ghost} and {task}'}}", "b")
    with pytest.raises(InvalidInput, match=r"unresolved placeholder\(s\) \{ghost\}, \{task\}"):
        dispatch.expand(broken, {}, builtins)


@pytest.mark.parametrize(("text", "message"), [
    ("[1, 2]", "expected a mapping with a 'roles' mapping"),
    ("roles: {r: 3}", "role 'r': expected a mapping"),
    ("roles: {r: {template: ''}}", "'template' must be a non-empty string"),
    ("roles: {r: {template: x, extra: 1}}", "unknown key 'extra'"),
    ("roles: {r: {template: x, required: [agent]}}", "bad parameter name 'agent'"),
    ("roles: {r: {template: x, optional: {'bad-name': 1}}}", "bad parameter name 'bad-name'"),
    ("roles: {r: {template: x, required: task}}", "'required' must be a list"),
    ("roles: [", "invalid YAML"),
])
def test_load_roles_refuses_malformed_files(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        dispatch.load_roles(text, "t.yaml")
    assert info.value.message.startswith("t.yaml: ")


def test_shipped_roles_load_and_need_a_task() -> None:
    roles = dispatch.read_roles(dispatch.DEFAULTS)
    assert set(roles) >= {"engineer", "architect", "scout", "reviewer"}
    for role in roles.values():
        assert role.required == ("task",)
        text = dispatch.expand(role, {"task": "T"}, {"agent": "a", "parent": "p", "role": "r"})
        assert "T" in text and "sm task-complete" in text and "sm status" in text


def test_template_lookup_order(tmp_path: Path) -> None:
    project, home = tmp_path / "repo", tmp_path / "home"
    deep = project / "src" / "pkg"
    deep.mkdir(parents=True)
    home.mkdir()
    assert dispatch.template_files(deep, home) == [dispatch.DEFAULTS]
    (home / dispatch.FILE_NAME).write_text("roles: {engineer: {template: home engineer}}")
    (project / ".sm").mkdir()
    (project / ".sm" / dispatch.FILE_NAME).write_text(
        "roles: {scout: {template: project scout}}")
    files = dispatch.template_files(deep, home)
    assert files == [project / ".sm" / dispatch.FILE_NAME, home / dispatch.FILE_NAME,
                     dispatch.DEFAULTS]
    assert dispatch.find_role("scout", files).template == "project scout"
    assert dispatch.find_role("engineer", files).template == "home engineer"
    assert dispatch.find_role("reviewer", files).source == str(dispatch.DEFAULTS)
    with pytest.raises(InvalidInput, match="unknown role 'juggler'; known roles: architect"):
        dispatch.find_role("juggler", files)


def test_parse_params() -> None:
    assert parse_params(["--task", "a b", "--done-when=tests pass", "--x="]) == {
        "task": "a b", "done_when": "tests pass", "x": ""}
    with pytest.raises(InvalidInput, match="--task needs a value"):
        parse_params(["--task"])
    with pytest.raises(InvalidInput, match="--task needs a value"):
        parse_params(["--task", "--level", "x"])
    with pytest.raises(InvalidInput, match="unexpected argument 'stray'"):
        parse_params(["stray"])


# -- the scheduler ------------------------------------------------------------------------------
class _Source:
    """Due times in a list; records when each fired."""

    def __init__(self, dues: list[float]) -> None:
        self.dues = sorted(dues)
        self.fired: list[float] = []
        self.checks = 0

    async def next_due(self) -> float | None:
        self.checks += 1
        return self.dues[0] if self.dues else None

    async def run_due(self, now: float) -> None:
        while self.dues and self.dues[0] <= now:
            self.fired.append(now - self.dues.pop(0))


def test_scheduler_sleeps_until_the_earliest_due_time_and_wakes_on_poke() -> None:
    async def main() -> tuple[_Source, int]:
        start = time.time()
        source = _Source([start + 0.15, start + 0.3])
        scheduler = Scheduler([source])
        scheduler.start()
        await asyncio.sleep(0.5)
        looks = source.checks
        source.dues.append(time.time())  # due now, but nobody said so: still asleep
        await asyncio.sleep(0.2)
        assert len(source.fired) == 2
        scheduler.poke()
        await asyncio.sleep(0.05)
        await scheduler.close()
        return source, looks

    source, looks = asyncio.run(main())
    assert len(source.fired) == 3
    assert all(0 <= late < 0.1 for late in source.fired[:2])  # on time, never early
    assert source.fired[2] >= 0.2  # fired only once poked
    assert looks <= 4  # it slept: no polling


def test_scheduler_survives_a_failing_source() -> None:
    class Broken(_Source):
        async def run_due(self, now: float) -> None:
            self.checks += 100
            raise RuntimeError("boom")

    async def main() -> tuple[_Source, _Source]:
        broken, good = Broken([time.time()]), _Source([time.time() + 0.1])
        scheduler = Scheduler([broken, good])
        scheduler.start()
        await asyncio.sleep(1.3)
        await scheduler.close()
        return broken, good

    broken, good = asyncio.run(main())
    assert len(good.fired) == 1  # after the pause that follows a failure
    assert broken.checks <= 300  # retried once a second, not in a hot loop
