"""sm's git pre-commit guard (installed per repo by ``sm guard install``).

Refuses a commit whose staged files (added, changed, renamed or deleted) another live
session holds a lock on — the file itself or a directory above it. The committing
session is the one whose pane the commit runs under (or whose token it has); outside
every session (a human) every session's lock counts. Stdlib only. When no sm daemon
answers, the commit goes ahead with a warning: the guard must never wedge a repository.
"""

from __future__ import annotations

import os
import subprocess
import sys

# hooks/sm_precommit.py in a checkout, sm/_hooks/sm_precommit.py in an installed wheel
_here = os.path.dirname(os.path.abspath(__file__))
for _ in range(1 if os.path.basename(_here) == "hooks" else 2):
    _here = os.path.dirname(_here)
sys.path.insert(0, _here)

from sm.client import Client  # noqa: E402
from sm.errors import SmError, Unavailable  # noqa: E402


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def staged() -> tuple[str, list[str]]:
    top = _git("rev-parse", "--show-toplevel").strip()
    names = _git("diff", "--cached", "--name-only", "-z", "--no-renames").split("\0")
    return top, [os.path.join(top, n) for n in names if n]


def main() -> int:
    try:
        top, paths = staged()
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"sm guard: cannot list staged files ({exc}); not checking locks", file=sys.stderr)
        return 0
    if not paths:
        return 0
    client = Client(timeout=5.0, autostart=False)
    try:
        answer = client.post("/locks/check", {"paths": paths, "cwd": top})
    except (OSError, Unavailable):
        print("sm guard: no sm daemon is running; locks not checked", file=sys.stderr)
        return 0
    except SmError as exc:
        print(f"sm guard: {exc.message}; locks not checked", file=sys.stderr)
        return 0
    blocked = answer.get("blocked") or []
    if not blocked:
        return 0
    print("sm guard: commit refused — staged files are locked by another session:",
          file=sys.stderr)
    for lease in blocked:
        why = f" ({lease['reason']})" if lease.get("reason") else ""
        print(f"  {lease['path']} held by {lease['holder']}{why}", file=sys.stderr)
    print("Unstage them (git restore --staged PATH), or ask the holder to release "
          "(sm locks shows who holds what).", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
