"""``sm approve`` / ``sm deny``: answer an agent's permission prompt from the CLI."""

from __future__ import annotations

import json


def test_approve_and_deny_answer_the_permission_prompt(
    sm, spawn, script_file, type_prompt, wait_state,
) -> None:
    script = script_file({"rules": [{"match": "risky", "actions": [
        {"permission": "Bash"}, {"say": "allowed and done"},
    ]}]})
    rec = spawn("--name", "asker", script=script)
    idle = sm("approve", "asker", check=False)
    assert (idle.returncode, idle.stderr) == (
        1, "sm: session asker is idle, not waiting for a permission: nothing to approve\n")

    type_prompt(rec["id"], "do something risky")
    wait_state("asker", "waiting_permission")
    out = json.loads(sm("approve", "asker", "--json").stdout)
    assert (out["id"], out["decision"]) == (rec["id"], "allow")
    wait_state("asker", "idle", where=lambda r: r["last_message"] == "allowed and done")

    type_prompt(rec["id"], "again something risky")
    wait_state("asker", "waiting_permission")
    assert sm("deny", "asker").stdout == "asker: denied\n"
    wait_state("asker", "idle")
    assert "Denied" in sm("output", "asker").stdout
    again = sm("deny", "asker", check=False)
    assert again.returncode == 1 and "nothing to deny" in again.stderr
