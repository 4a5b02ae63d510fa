"""Pure pieces of the push runtime: the control-mode wire (quoting, %output escapes)
and a pane's output stream (virtual screen, subscribers, sequence numbers)."""

from __future__ import annotations

import asyncio

from sm.runtime.control import quote, unescape
from sm.runtime.output import PENDING_BYTES, QUEUE_CHUNKS, PaneOutput


def test_quote_leaves_plain_words_and_escapes_the_rest() -> None:
    assert quote("send-keys") == "send-keys"
    assert quote("=sm-abc:") == "=sm-abc:"
    assert quote("two words") == '"two words"'
    assert quote('say "$HOME" \\') == '"say \\"\\$HOME\\" \\\\"'
    assert quote("~/x ~") == '"\\~/x ~"'  # tmux expands a leading ~ in double quotes
    assert quote("a\nb\x1b") == '"a\\012b\\033"'
    assert quote("%1:continue") == '"%1:continue"'
    assert quote("") == '""'


def test_unescape_reads_tmux_octal_escapes() -> None:
    assert unescape(b"plain") == b"plain"
    assert unescape(b"a\\015\\012b\\134c") == b"a\r\nb\\c"
    assert unescape(b"\\033[1m\\342\\234\\223") == "\x1b[1m✓".encode()


def test_the_screen_follows_the_bytes() -> None:
    pane = PaneOutput("%1", 20, 4, current=True, clock=lambda: 5.0)
    pane.snapshot()  # a view asked for the screen: from now on it is kept
    pane.feed(b"hello\r\n\x1b[1mworld")
    snap = pane.snapshot()
    assert snap.seq == 1
    assert [line.rstrip() for line in snap.lines] == ["hello", "world", "", ""]
    assert snap.cursor == (5, 1)
    assert pane.output_at == 5.0


def test_subscribers_get_every_chunk_after_their_snapshot_in_order() -> None:
    async def main() -> None:
        pane = PaneOutput("%1", 20, 4, current=True)
        pane.snapshot()
        pane.feed(b"before")
        sub = pane.subscribe()
        assert sub.snapshot.seq == 1 and sub.snapshot.lines[0].startswith("before")
        pane.feed(b" one")
        pane.feed(b" two")
        pane.end()
        got = [(c.seq, c.data) async for c in sub]
        assert got == [(2, b" one"), (3, b" two")]

    asyncio.run(main())


def test_a_slow_subscriber_is_dropped_not_waited_for() -> None:
    async def main() -> None:
        pane = PaneOutput("%1", 20, 4, current=True)
        slow = pane.subscribe()
        for _ in range(QUEUE_CHUNKS + 10):
            pane.feed(b"x")
        assert slow.lagged
        assert len([c async for c in slow]) < QUEUE_CHUNKS
        fresh = pane.subscribe()  # a new snapshot to start again from
        assert fresh.snapshot.seq == QUEUE_CHUNKS + 10

    asyncio.run(main())


def test_a_redraw_repairs_the_screen_and_reaches_subscribers() -> None:
    async def main() -> None:
        pane = PaneOutput("%1", 10, 3, current=False)
        sub = pane.subscribe()
        pane.redraw(["\x1b[2mfaint\x1b[0m", "b"], (1, 1), (12, 3))
        assert pane.current
        snap = pane.snapshot()
        assert (snap.width, snap.height) == (12, 3)
        assert [line.rstrip() for line in snap.lines] == ["faint", "b", ""]
        assert snap.cursor == (1, 1)
        pane.end()
        chunks = [c async for c in sub]
        assert len(chunks) == 1 and b"\x1b[2J" in chunks[0].data

    asyncio.run(main())


def test_unread_output_is_bounded() -> None:
    pane = PaneOutput("%1", 10, 3, current=True)
    pane.snapshot()
    for _ in range(PENDING_BYTES // 1000 + 2):
        pane.feed(b"y" * 1000)
    assert not pane.current  # the screen needs a redraw before it is read again
    assert pane.seq == PENDING_BYTES // 1000 + 2


def test_until_a_view_asks_for_a_screen_the_bytes_only_pass_through() -> None:
    async def main() -> None:
        pane = PaneOutput("%1", 10, 3, current=True)
        assert pane.snapshot().lines == [" " * 10] * 3  # nothing written yet: blank is true
        idle = PaneOutput("%2", 10, 3, current=True)
        watch = idle.subscribe(screen=False)
        assert watch.snapshot is None
        idle.feed(b"hello")
        assert not idle.keeps_screen and not idle.current  # a snapshot must be redrawn
        assert idle.resized(12, 4) is False and idle.size == (12, 4)
        idle.redraw(["hello"], (5, 0), (12, 4))
        assert idle.keeps_screen and idle.current
        assert idle.snapshot().lines[0].rstrip() == "hello"
        idle.end()
        assert [c.seq async for c in watch] == [1, 2]  # the bytes, then the redraw

    asyncio.run(main())
