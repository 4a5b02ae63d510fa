"""``sm send`` without argparse: the shapes it reads itself, and the ones it leaves to the
full parser (which then gives the usual result or error)."""

from __future__ import annotations

from sm.cli.quick_send import parse
from sm.client import _dumps, _loads


def test_the_usual_shapes() -> None:
    assert parse(["bob", "hello", "there"]) == ("bob", ["hello", "there"], None, None, False)
    assert parse(["a,b", "hi", "--important", "--json"]) == ("a,b", ["hi"], "important",
                                                             None, True)
    assert parse(["--urgent", "bob", "-"]) == ("bob", ["-"], "urgent", None, False)
    assert parse(["bob", "x", "--no-notify-on-stop"]) == ("bob", ["x"], None, False, False)


def test_anything_else_goes_to_the_full_parser() -> None:
    for argv in (["--help"], ["bob"], [], ["bob", "-n", "x"], ["bob", "--", "-x"],
                 ["bob", "x", "--important", "--urgent"],
                 ["bob", "x", "--notify-on-stop", "--no-notify-on-stop"]):
        assert parse(argv) is None, argv


def test_json_without_the_json_module_round_trips() -> None:
    import json

    for value in ({"targets": ["a"], "body": 'é "q" \\ \n\t\x01', "mode": None, "n": 3,
                   "ok": True}, [], {"f": 1.5, "nested": {"x": [1, None]}}):
        assert json.loads(_dumps(value)) == value
        assert _loads(json.dumps(value).encode()) == value
    for bad in (b"{", b"nope", b'{"a": 1} trailing'):
        try:
            _loads(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
