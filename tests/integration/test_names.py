"""Session names: unique among live sessions, reusable once dead, validated; and every
way to address a session (id, unique id prefix, name)."""

from __future__ import annotations

INVALID = ["", "a b", "x" * 33, "human", "Operator", "dot.ted", "ünï"]


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected a one-line message, got:\n{stderr}"
    assert "Traceback" not in stderr
    return lines[0]


def test_a_live_name_is_unique(sm, sm_json, spawn) -> None:
    first = spawn("--name", "dup")
    out = sm("spawn", "scripted", "--name", "dup", check=False)
    assert out.returncode == 1
    assert _one_line(out.stderr) == "sm: the name 'dup' is taken by a live session"
    assert [(s["id"], s["name"]) for s in sm_json("list")] == [(first["id"], "dup")]


def test_a_dead_sessions_name_can_be_reused(sm, sm_json, spawn) -> None:
    old = spawn("--name", "reuse")
    sm("kill", "reuse")
    new = spawn("--name", "reuse")
    assert new["id"] != old["id"]
    # the name addresses the live holder; the dead one is still reachable by id
    assert sm_json("status", "reuse")["id"] == new["id"]
    assert sm_json("status", old["id"])["state"] == "stopped"
    assert sorted(s["name"] for s in sm_json("list")) == ["reuse", "reuse"]


def test_restore_refuses_when_the_name_was_taken_meanwhile(sm, sm_json, spawn) -> None:
    old = spawn("--name", "taken")
    sm("kill", "taken")
    new = spawn("--name", "taken")
    out = sm("restore", old["id"], check=False)
    assert out.returncode == 1
    assert "taken" in _one_line(out.stderr)
    assert sm_json("status", old["id"])["state"] == "stopped"
    assert sm_json("status", new["id"])["state"] == "idle"


def test_rename(sm, sm_json, spawn, events) -> None:
    rec = spawn("--name", "before")
    other = spawn("--name", "other")
    out = sm("name", "before", "after")
    assert out.stdout.strip() == f"{rec['id']} is now after"
    assert sm_json("status", "after")["id"] == rec["id"]
    gone = sm("status", "before", check=False)
    assert gone.returncode == 1
    renamed = events(rec["id"], kinds=("renamed",))
    assert [e["payload"] for e in renamed] == [{"from": "before", "to": "after"}]

    clash = sm("name", "after", "other", check=False)
    assert clash.returncode == 1
    assert "taken" in _one_line(clash.stderr)
    assert sm_json("status", rec["id"])["name"] == "after"
    assert sm_json("status", other["id"])["name"] == "other"


def test_a_session_names_itself(sm, sm_json, spawn, session_env) -> None:
    rec = spawn()
    assert rec["name"] is None
    sm("name", "selfnamed", env=session_env(rec["id"]))
    assert sm_json("status", "selfnamed")["id"] == rec["id"]
    out = sm("name", "lonely", check=False)  # the operator has no "self"
    assert out.returncode == 2
    assert "which session" in _one_line(out.stderr)


def test_invalid_names_are_refused(sm, sm_json, spawn) -> None:
    rec = spawn("--name", "valid")
    for bad in INVALID:
        if bad:  # spawn's empty name: test_empty_name_is_refused_on_spawn
            out = sm("spawn", "scripted", "--name", bad, check=False)
            assert (out.returncode, bad) == (2, bad)
            assert _one_line(out.stderr).startswith(f"sm: invalid session name {bad!r}")
        out = sm("name", "valid", bad, check=False)
        assert (out.returncode, bad) == (2, bad)
        assert _one_line(out.stderr).startswith(f"sm: invalid session name {bad!r}")
    assert [(s["id"], s["name"]) for s in sm_json("list")] == [(rec["id"], "valid")]
    longest = "A-z_0" + "9" * 27
    assert len(longest) == 32
    assert sm_json("name", "valid", longest)["name"] == longest
    assert sm_json("status", longest)["id"] == rec["id"]


def test_empty_name_is_refused_on_spawn(sm, sm_json) -> None:
    out = sm("spawn", "scripted", "--name", "", check=False)
    assert out.returncode == 2
    assert _one_line(out.stderr).startswith("sm: invalid session name ''")
    assert sm_json("list") == []


def test_address_by_id_unique_prefix_and_name(sm, sm_json, spawn) -> None:
    a = spawn("--name", "addr-a")
    b = spawn("--name", "addr-b")
    for ref in (a["id"], "addr-a"):
        assert sm_json("status", ref)["id"] == a["id"]
    # the shortest prefix of a's id that b's id does not share
    n = next(i for i in range(1, 11) if a["id"][:i] != b["id"][:i])
    assert sm_json("status", a["id"][:n])["id"] == a["id"]
    assert sm_json("status", b["id"][:n])["id"] == b["id"]
    assert sm("status", a["id"][:n]).stdout.splitlines()[0].startswith("addr-a ")
    # every command resolves the same way
    assert sm_json("show", a["id"][:n])["id"] == a["id"]
    assert sm_json("kill", a["id"][:n])["id"] == a["id"]
    assert sm_json("status", b["id"])["state"] == "idle"


def test_ambiguous_prefix_is_refused(sm, sm_json, spawn) -> None:
    """Two ids share at least the empty prefix; spawn until two share a first character
    (hex ids: at most 17 sessions, usually 4 or 5; shell sessions are cheap)."""
    seen: dict[str, str] = {}
    for _ in range(17):
        rec = sm_json("spawn", "shell", "--", "sleep", "60")
        if rec["id"][0] in seen:
            break
        seen[rec["id"][0]] = rec["id"]
    prefix = rec["id"][0]
    out = sm("status", prefix, check=False)
    assert out.returncode == 2
    line = _one_line(out.stderr)
    assert "ambiguous" in line and rec["id"] in line and seen[prefix] in line


def test_tmux_windows_are_named_after_their_agents(sm, spawn, tmux) -> None:
    named = spawn("--name", "builder")
    anon = spawn()

    def window(rec: dict) -> str:
        return str(tmux("display-message", "-p", "-t", f"={rec['tmux_session']}:",
                        "#{window_name}").stdout.strip())

    assert window(named) == "builder"
    assert window(anon) == anon["id"]  # no name: its id, never the program's ("python")
    sm("name", anon["id"], "reviewer")
    assert window(anon) == "reviewer"
    listing = tmux("list-windows", "-a", "-F", "#{session_name} #{window_name}").stdout
    assert f"{named['tmux_session']} builder" in listing
