"""Forgetting dead sessions: `sm list` leaves them out, their records stay."""

from __future__ import annotations


def _listed(sm_json) -> list[str]:
    return [s["name"] for s in sm_json("list")]


def test_forget_and_prune_leave_dead_sessions_out_of_the_list(sm, sm_json, spawn) -> None:
    live = spawn("--name", "live")
    gone = spawn("--name", "gone")
    old = spawn("--name", "old")
    sm("kill", "gone", "old")
    assert _listed(sm_json) == ["live", "gone", "old"]

    refused = sm("forget", "live", check=False)
    assert refused.returncode == 1 and "live: sm kill it first" in refused.stderr
    [forgotten] = sm_json("forget", "gone")
    assert forgotten["id"] == gone["id"] and forgotten["forgotten_at"]
    assert _listed(sm_json) == ["live", "old"]
    # the record stays: by id it is there, with its history
    assert sm_json("status", gone["id"])["state"] == "stopped"
    assert any(e["kind"] == "forgotten" for e in sm_json("events", gone["id"]))

    # a restore brings it back into the list
    sm("restore", gone["id"])
    assert _listed(sm_json) == ["live", "gone", "old"]

    pruned = sm_json("prune", "--older-than", "1h")
    assert pruned == []  # nothing ended an hour ago
    sm("kill", "gone")
    pruned = sm_json("prune")
    assert sorted(p["name"] for p in pruned) == ["gone", "old"]
    assert _listed(sm_json) == ["live"]
    assert sm_json("status", old["id"])["id"] == old["id"]
    assert live["id"] == sm_json("status", "live")["id"]
