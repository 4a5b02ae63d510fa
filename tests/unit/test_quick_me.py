"""``sm me`` / ``sm status`` without argparse, and the client's own percent-encoding."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, unquote, urlsplit

from sm.cli.quick_me import parse
from sm.client import _with_query, quote_ref


def test_the_shapes_read_by_hand() -> None:
    assert parse([]) == ([], False, False)
    assert parse(["--json"]) == ([], False, True)
    assert parse(["bob", "--json"]) == (["bob"], False, True)
    assert parse(["--set", "reading", "logs"]) == (["reading", "logs"], True, False)


def test_flags_it_does_not_know_go_to_the_full_parser() -> None:
    for argv in (["--help"], ["-h"], ["bob", "--jsn"], ["-"]):
        assert parse(argv) is None, argv


def test_refs_and_queries_are_encoded_as_urllib_would() -> None:
    for ref in ("abc", "a b/c?d&e=f#g", "é", "x+y", "~._-", "%", "日本", "a\nb"):
        assert quote_ref(ref) == quote(ref, safe="")
        assert unquote(quote_ref(ref)) == ref
    url = _with_query("/messages", {"to": "a b&c", "limit": 5, "state": None, "q": "é+"})
    parts = urlsplit(url)
    assert parts.path == "/messages"
    assert parse_qs(parts.query) == {"to": ["a b&c"], "limit": ["5"], "q": ["é+"]}
    assert _with_query("/x", {"a": None}) == "/x"


def test_a_byte_that_is_not_utf8_goes_as_that_byte() -> None:
    assert quote_ref("a\udcffb") == "a%FFb"
