"""Running git (and other tools) without blocking the loop, and reading repo layout.

Every subprocess is an asyncio subprocess. git's own errors are translated here and
only here: a missing binary is Unavailable, "not a git repository" is InvalidInput,
anything else is a GitError (a Conflict) whose message carries git's stderr.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sm.errors import Conflict, InvalidInput, Unavailable


class GitError(Conflict):
    """git refused: its stderr says why."""


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


async def run(
    argv: Sequence[str],
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = 300.0,
    stdin: bytes | None = None,
) -> Result:
    """Run one command; never raises for a non-zero exit. Raises Unavailable when the
    binary is missing or the command outlives ``timeout`` (it is then killed)."""
    full_env = None if env is None else {**os.environ, **env}
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=None if cwd is None else str(cwd), env=full_env,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise Unavailable(f"{argv[0]} not found on PATH") from None
    except NotADirectoryError:
        raise InvalidInput(f"{cwd} is not a directory") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        what = " ".join(argv[:3])
        raise Unavailable(f"{what} took longer than {timeout:g}s") from None
    return Result(proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace"))


async def git(
    *args: str,
    cwd: str | Path,
    env: Mapping[str, str] | None = None,
    ok: Sequence[int] = (0,),
    timeout: float | None = 300.0,
    stdin: bytes | None = None,
) -> Result:
    """``git -C cwd ARGS``. Raises InvalidInput outside a repository and GitError for
    an exit code not in ``ok``."""
    base_env = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    result = await run(
        ["git", "-C", str(cwd), *args], env={**base_env, **(env or {})}, timeout=timeout,
        stdin=stdin,
    )
    if result.code not in ok:
        message = result.err.strip() or result.out.strip() or f"exit {result.code}"
        if "not a git repository" in message:
            raise InvalidInput(f"{cwd} is not inside a git repository")
        raise GitError(f"git {args[0]} failed in {cwd}: {message.splitlines()[-1]}")
    return result


async def check_branch(name: str) -> str:
    """``name`` if git takes it as a branch name (``git check-ref-format --branch``).
    Raises InvalidInput otherwise: a name starting with ``-`` above all, which git
    would read as an option."""
    if not name or name.startswith("-") or not name.isprintable() or len(name) > 200:
        raise InvalidInput(f"invalid branch name {name[:80]!r}")
    result = await run(["git", "check-ref-format", "--branch", name], timeout=30)
    if result.code != 0:
        raise InvalidInput(f"invalid branch name {name[:80]!r}: {result.err.strip()[:200]}")
    return name


def check_rev(rev: str) -> str:
    """``rev`` if it can name a commit (``main``, ``origin/main``, ``HEAD~2``, a sha) and
    never reads as an option. Raises InvalidInput."""
    if not rev or rev.startswith("-") or not rev.isprintable() or " " in rev or len(rev) > 200:
        raise InvalidInput(f"invalid git revision {rev[:80]!r}")
    return rev


async def out(*args: str, cwd: str | Path, **kwargs: object) -> str:
    """git's stdout, stripped."""
    return (await git(*args, cwd=cwd, **kwargs)).out.strip()  # type: ignore[arg-type]


def canonical(path: str, cwd: str) -> str:
    """``path`` made absolute from ``cwd``, symlinks resolved (missing tails kept), so
    a relative path, an absolute one and a symlink to the same file are equal. Raises
    InvalidInput for a path no file can have (a NUL in it)."""
    if "\x00" in path or "\x00" in cwd:
        raise InvalidInput(f"path {path[:80]!r}: contains a NUL character")
    joined = os.path.join(cwd, os.path.expanduser(path))
    return os.path.realpath(joined).rstrip("/") or "/"


def toplevel(path: str) -> str | None:
    """The working tree root holding ``path`` (the nearest ancestor with a ``.git``
    directory or file), canonical; None outside any repository. Filesystem only."""
    if "\x00" in path:
        return None
    current = os.path.realpath(path)
    if not os.path.isdir(current):
        current = os.path.dirname(current)
    while True:
        if os.path.exists(os.path.join(current, ".git")):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def disk_usage(path: str) -> int:
    """Bytes allocated under ``path`` (blocks, like ``du``); call in a thread."""
    total = 0
    for root, dirs, files in os.walk(path):
        for name in files + dirs:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            total += st.st_blocks * 512
    return total
