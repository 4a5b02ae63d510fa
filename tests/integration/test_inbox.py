"""The operator's inbox: ``sm send operator`` from a session stores a note for the
human, typed nowhere; ``sm inbox`` peeks (never marks), ``sm inbox ack`` marks read."""

from __future__ import annotations

import json


def test_a_session_writes_to_the_operator_and_the_operator_reads(
    sm, sm_json, spawn, session_env,
) -> None:
    rec = spawn("--name", "writer")
    as_writer = session_env(rec["id"])
    out = sm("send", "operator", "build is green", env=as_writer).stdout
    note_id, rest = out.split(" ", 1)
    assert rest == "stored → operator\n"
    sm("send", "operator", "-", input="second\nwith two lines\n", env=as_writer)

    notes = sm_json("inbox")
    assert [(n["from"], n["body"], n["read"]) for n in notes] == [
        ("writer", "second\nwith two lines\n", False), ("writer", "build is green", False)]
    assert notes[1]["id"] == note_id and notes[0]["sender_id"] == rec["id"]
    table = sm("inbox").stdout
    assert table.splitlines()[1].startswith("* ") and "writer" in table
    assert "2 unread" in table
    assert [n["read"] for n in sm_json("inbox")] == [False, False]  # peeking marks nothing
    assert sm_json("messages") == []  # nothing was typed anywhere

    acked = sm_json("inbox", "ack", note_id[:6])
    assert [(n["id"], n["read"], n["read_by"]) for n in acked] == [(note_id, True, "cli")]
    assert [n["body"] for n in sm_json("inbox", "--unread")] == ["second\nwith two lines\n"]
    assert sm("inbox", "ack", "--all").stdout == "1 note read\n"
    assert sm("inbox", "--unread").stdout == "no unread notes\n"

    # the inbox is the human's: a session may write to it, not read it
    peek = sm("inbox", env=as_writer, check=False)
    assert peek.returncode == 1 and "is for the operator" in peek.stderr
    missing = sm("inbox", "ack", "ffffffff", check=False)
    assert (missing.returncode, missing.stderr) == (
        1, "sm: no note 'ffffffff' in the operator's inbox\n")
    assert json.loads(sm("inbox", "--json").stdout)[0]["read"] is True
