"""The tmux runtime on its own, against a real tmux server on a private socket: one
control connection for every command, the layout (agents' windows linked into the
control session), pushed output, and what happens when the connection or the server
dies."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sm.runtime.tmux import CONTROL_SESSION, Tmux

Body = Callable[[Tmux], Awaitable[None]]


def _tmux(socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True,
                          timeout=10, stdin=subprocess.DEVNULL)


@pytest.fixture
def socket_name(tmp_path: Path) -> Iterator[str]:
    name = f"smrt-{uuid.uuid4().hex[:8]}"
    yield name
    listed = _tmux(name, "list-panes", "-a", "-F", "#{pane_pid}").stdout.split()
    _tmux(name, "kill-server")
    for pid in listed:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    tmux_dir = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
    (tmux_dir / name).unlink(missing_ok=True)


@pytest.fixture
def run_runtime(socket_name: str, tmp_path: Path) -> Callable[[Body], None]:
    """``run_runtime(body)``: start a runtime on the private socket, run ``await
    body(tmux)`` in a fresh event loop, close the runtime."""
    log = tmp_path / "died.log"

    def run(body: Body) -> None:
        async def main() -> None:
            tmux = Tmux(socket_name)
            await tmux.start(f"echo #{{@sm_session}} >> {log}")
            try:
                await body(tmux)
            finally:
                await tmux.close()

        asyncio.run(main())

    return run


async def _until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        result = predicate()
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")


async def _until_async(predicate: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        result = await predicate()
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")


async def _cat(tmux: Tmux, name: str) -> None:
    """A session whose program shows each line it is typed once (``cat``, no tty echo),
    ready when this returns."""
    await tmux.new_session(name, ["sh", "-c", "stty -echo; echo READY; exec cat"], "/",
                           {"PATH": os.environ["PATH"]}, 120, 40)

    async def ready() -> bool:
        return "READY" in await tmux.capture(name, 5)

    await _until_async(ready)


TRICKY = [
    'plain', 'Enter', 'C-a', "it's", 'say "hi"', "$HOME ${HOME} `id`", "~/x ~", "#{pane_id}",
    "a;b ; c", "back\\slash \\n \\033", "tab\there", "ünïcødé ✓ 漢字", "%1 %begin 1 2 1",
    "-starts-with-dash", "{braces} [brackets]", "",
]


def test_literal_text_and_pastes_arrive_verbatim(run_runtime: Callable[[Body], None]) -> None:
    async def body(tmux: Tmux) -> None:
        await _cat(tmux, "t1")
        for text in TRICKY:
            if text:
                await tmux.send_text("t1", text)
                await tmux.send_keys("t1", "Enter")
        await tmux.paste("t1", "pasted; $X \"q\" 'q' #{x}\n", buffer="sm-test")
        want = [t for t in TRICKY if t]

        async def shown() -> bool:
            screen = await tmux.capture("t1", 200)
            return "pasted; $X" in screen

        await _until_async(shown)
        lines = [line.rstrip() for line in (await tmux.capture("t1", 200)).splitlines()]
        assert lines == ["READY", *[t.expandtabs() for t in want], "pasted; $X \"q\" 'q' #{x}"]

    run_runtime(body)


def test_agents_are_linked_into_the_control_session_and_keep_their_size(
    run_runtime: Callable[[Body], None], socket_name: str,
) -> None:
    async def body(tmux: Tmux) -> None:
        await _cat(tmux, "t1")
        await _cat(tmux, "t2")
        windows = _tmux(socket_name, "list-windows", "-a", "-F",
                        "#{session_name} #{window_id} #{window_width}x#{window_height}")
        rows = [line.split() for line in windows.stdout.splitlines()]
        control = {w for s, w, _ in rows if s == CONTROL_SESSION}
        for name in ("t1", "t2"):
            (window, size), = [(w, z) for s, w, z in rows if s == name]
            assert window in control
            assert size == "120x40"  # the control client never resizes a window
        assert {p.session for p in await tmux.panes()} == {"t1", "t2"}
        await tmux.kill_session("t1")
        assert not await tmux.has_session("t1")
        windows = _tmux(socket_name, "list-windows", "-t", f"={CONTROL_SESSION}", "-F",
                        "#{window_id}").stdout.split()
        assert len(windows) == 2  # its own window and t2's: t1's window died with t1

    run_runtime(body)


def test_a_new_sessions_first_pane_gets_the_given_path(
    run_runtime: Callable[[Body], None],
) -> None:
    async def body(tmux: Tmux) -> None:
        path = "/sm-test/bin:" + os.environ["PATH"]
        await tmux.new_session("p1", ["sh", "-c", 'echo "P=$PATH"; exec cat'], "/",
                               {"PATH": path}, 100, 20)

        async def shown() -> str:
            return await tmux.capture("p1", 20)

        assert f"P={path}" in await _until_async(shown)

    run_runtime(body)


def test_output_is_pushed_to_subscribers_in_order(run_runtime: Callable[[Body], None]) -> None:
    async def body(tmux: Tmux) -> None:
        await _cat(tmux, "o1")
        await tmux.send_text("o1", "first")
        await tmux.send_keys("o1", "Enter")
        async def shown() -> bool:
            return "first" in await tmux.capture("o1", 5)

        await _until_async(shown)
        assert tmux.output_at("o1")
        sub = await tmux.subscribe("o1")  # the first snapshot is redrawn from tmux
        assert sub.snapshot is not None
        assert any(line.startswith("first") for line in sub.snapshot.lines)
        for i in range(20):
            await tmux.send_text("o1", f"line {i}")
            await tmux.send_keys("o1", "Enter")
        got: list[bytes] = []
        seqs: list[int] = []

        async def read() -> None:
            async for chunk in sub:
                seqs.append(chunk.seq)
                got.append(chunk.data)
                if b"line 19" in b"".join(got):
                    return

        await asyncio.wait_for(read(), 10)
        assert seqs == list(range(sub.snapshot.seq + 1, sub.snapshot.seq + 1 + len(seqs)))
        data = b"".join(got)
        assert all(f"line {i}".encode() in data for i in range(20))
        sub.close()
        # the virtual screen matches what tmux shows
        screen = tmux._streams[tmux._pane_of["o1"]].snapshot().lines
        shown = (await tmux.capture("o1", 40)).splitlines()
        assert [line.rstrip() for line in screen if line.strip()] == \
            [line.rstrip() for line in shown if line.strip()][-len([x for x in screen
                                                                    if x.strip()]):]

    run_runtime(body)


def test_a_flooding_pane_is_paused_and_redrawn_without_stalling_the_loop(
    socket_name: str,
) -> None:
    async def main() -> None:
        tmux = Tmux(socket_name, pause_after=1)
        await tmux.start("true")
        try:
            await tmux.new_session("flood", ["sh", "-c", "yes flood | head -c 30000000; "
                                             "echo END; exec cat"], "/",
                                   {"PATH": os.environ["PATH"]}, 80, 24)
            (await tmux.subscribe("flood")).close()  # a view asked: the screen is kept
            loop = asyncio.get_running_loop()
            lags: list[float] = []

            async def probe() -> None:
                while True:
                    start = loop.time()
                    await asyncio.sleep(0.01)
                    lags.append(loop.time() - start - 0.01)

            task = asyncio.create_task(probe())

            async def ended() -> bool:
                return "END" in await tmux.capture("flood", 5)

            await _until_async(ended, timeout=60)
            # the virtual screen follows once the paused pane is resumed and redrawn (30 MB
            # through the terminal emulator: on a loaded machine this takes a while)
            await _until(lambda: "END" in "".join(
                tmux._streams[tmux._pane_of["flood"]].snapshot().lines), timeout=90)
            task.cancel()
            assert await tmux.has_session("flood")  # still answering commands
            assert lags
        finally:
            await tmux.close()

    asyncio.run(main())


def test_a_killed_control_client_is_replaced_and_nothing_runs_twice(
    run_runtime: Callable[[Body], None],
) -> None:
    async def body(tmux: Tmux) -> None:
        await _cat(tmux, "k1")
        first = tmux.control.pid
        assert first is not None

        sent: list[int] = []

        async def typing() -> None:
            for i in range(300):
                await tmux.send_text("k1", f"w{i}.")
                sent.append(i)

        task = asyncio.create_task(typing())
        await _until(lambda: len(sent) > 50)
        os.kill(first, signal.SIGKILL)
        await asyncio.wait_for(task, 30)
        assert tmux.control.pid not in (None, first)
        await tmux.send_keys("k1", "Enter")

        async def typed() -> str:
            text = "".join((await tmux.capture("k1", 100)).split("\n")[1:])
            return text if "w299." in text else ""

        text = await _until_async(typed)
        echoed = text.split("w299.")[0] + "w299."
        assert echoed == "".join(f"w{i}." for i in range(300))  # each once, in order

    run_runtime(body)


def test_a_killed_server_stays_dead_until_a_session_is_created(
    run_runtime: Callable[[Body], None], socket_name: str,
) -> None:
    async def body(tmux: Tmux) -> None:
        await _cat(tmux, "s1")
        first = tmux.control.pid
        _tmux(socket_name, "kill-server")
        await _until(lambda: tmux.control.pid is None)
        # reads find nothing and do not bring a server back
        assert await tmux.panes() == []
        assert not await tmux.has_session("s1")
        await tmux.reap()
        assert _tmux(socket_name, "list-sessions").returncode != 0
        await _cat(tmux, "s2")  # creating a session starts a new server, with sm's options
        assert [p.session for p in await tmux.panes()] == ["s2"]
        assert tmux.control.pid not in (None, first)
        assert _tmux(socket_name, "show-options", "-gv", "remain-on-exit").stdout.strip() == "on"

    run_runtime(body)


def test_pane_died_names_the_agent_session(
    run_runtime: Callable[[Body], None], tmp_path: Path,
) -> None:
    async def body(tmux: Tmux) -> None:
        await tmux.new_session("d1", ["sh", "-c", "exit 3"], "/", {"PATH": os.environ["PATH"]})

        async def dead() -> bool:
            await tmux.reap()
            pane = await tmux.pane("d1")
            return pane.dead and pane.exit_status == 3

        await _until_async(dead)
        await _until(lambda: (tmp_path / "died.log").exists()
                     and "d1" in (tmp_path / "died.log").read_text())

    run_runtime(body)
