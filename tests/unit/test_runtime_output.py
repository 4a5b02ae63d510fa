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
    pane.feed(b"hello\r\n\x1b[1mworld")
    snap = pane.snapshot()
    assert snap.seq == 1
    assert [line.rstrip() for line in snap.lines] == ["hello", "world", "", ""]
    assert snap.cursor == (5, 1)
    assert pane.output_at == 5.0


def test_subscribers_get_every_chunk_after_their_snapshot_in_order() -> None:
    async def main() -> None:
        pane = PaneOutput("%1", 20, 4, current=True)
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
    for _ in range(PENDING_BYTES // 1000 + 2):
        pane.feed(b"y" * 1000)
    assert not pane.current  # the screen needs a redraw before it is read again
    assert pane.seq == PENDING_BYTES // 1000 + 2
