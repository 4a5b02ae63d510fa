"""Installing sm's pre-commit guard into a repository (called by the CLI, not the
daemon: it writes into the caller's own repo)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from sm.errors import Conflict, InvalidInput

MARKER = "# sm pre-commit guard"


def guard_script() -> Path:
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_hooks" / "sm_precommit.py",
                      package.parent / "hooks" / "sm_precommit.py"):
        if candidate.exists():
            return candidate
    raise InvalidInput("sm's pre-commit guard (hooks/sm_precommit.py) is missing from the install")


def hook_text(home: Path) -> str:
    command = shlex.join([sys.executable, "-I", "-S", str(guard_script())])
    return (f"#!/bin/sh\n{MARKER}: refuses commits touching files another session locks\n"
            f'SM_HOME="${{SM_HOME:-{home}}}" exec {command} "$@"\n')


def install(cwd: str, home: Path, force: bool = False) -> Path:
    """Write ``pre-commit`` into the repo's hooks directory (``core.hooksPath``
    honoured; shared by all its worktrees). Idempotent. Raises InvalidInput outside a
    repo, Conflict when a foreign pre-commit hook exists (``force`` keeps it as
    ``pre-commit.sm-backup``)."""
    try:
        hooks = subprocess.run(
            ["git", "-C", cwd, "rev-parse", "--path-format=absolute", "--git-path", "hooks"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    except subprocess.CalledProcessError:
        raise InvalidInput(f"{cwd} is not inside a git repository") from None
    path = Path(hooks) / "pre-commit"
    if path.exists() and MARKER not in path.read_text(errors="replace"):
        if not force:
            raise Conflict(f"{path} exists and is not sm's; --force keeps it as "
                           "pre-commit.sm-backup and installs sm's")
        path.rename(path.with_name("pre-commit.sm-backup"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(hook_text(home))
    os.chmod(path, 0o755)
    return path
