"""Completion checks, run in the job's directory after its agent's turn ends.

    diff_not_empty       the directory has uncommitted changes, or commits since the
                         job started (its HEAD moved); outside git it fails
    no_error_in_output   the agent's last message and result show no error: no Python
                         traceback, no ``SomethingError:`` / ``SomethingException:``
                         line, no ``error:`` line, no ``FAILED``
    command:<shell>      ``/bin/sh -c`` in the directory exits 0 within the timeout
                         (its whole process group is killed when it overruns)

A failed check's output (cut to ``output_chars``) becomes the job's failure reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections.abc import Mapping
from dataclasses import dataclass

from sm.errors import SmError
from sm.git.run import git

_ERROR = re.compile(
    r"Traceback \(most recent call last\)"
    r"|^\s*(?:[A-Za-z_][\w.]*)?(?:Error|Exception): "
    r"|^\s*(?i:error)(?:\[\w+\])?: "
    r"|\bFAILED\b",
    re.MULTILINE,
)


@dataclass(frozen=True)
class CheckResult:
    check: str
    ok: bool
    output: str


class Checks:
    def __init__(self, timeout: float = 300.0, output_chars: int = 4000) -> None:
        self.timeout = timeout
        self.output_chars = output_chars

    async def head(self, cwd: str) -> str | None:
        """The commit checked out in ``cwd`` (None outside git or before any commit)."""
        try:
            result = await git("rev-parse", "-q", "--verify", "HEAD", cwd=cwd, ok=(0, 1, 128))
        except SmError:
            return None
        return result.out.strip() or None

    async def run(
        self, check: str, cwd: str, *, text: str, base_commit: str | None,
        env: Mapping[str, str] | None = None,
    ) -> CheckResult:
        """Run one check. Never raises for the check failing; its output says why."""
        if check == "diff_not_empty":
            return await self._diff(check, cwd, base_commit)
        if check == "no_error_in_output":
            found = _ERROR.search(text)
            if found is None:
                return CheckResult(check, True, "")
            line = text[text.rfind("\n", 0, found.start()) + 1:].split("\n", 1)[0]
            return CheckResult(check, False, f"the output shows an error: {line.strip()}")
        return await self._command(check, check.removeprefix("command:").strip(), cwd, env)

    async def _diff(self, check: str, cwd: str, base_commit: str | None) -> CheckResult:
        try:
            status = await git("status", "--porcelain", cwd=cwd)
        except SmError as exc:
            return CheckResult(check, False, exc.message)
        if status.out.strip():
            return CheckResult(check, True, status.out.strip()[: self.output_chars])
        head = await self.head(cwd)
        if head and base_commit and head != base_commit:
            return CheckResult(check, True, f"HEAD moved from {base_commit[:12]} to {head[:12]}")
        return CheckResult(check, False, f"no changes in {cwd}: the diff is empty")

    async def _command(
        self, check: str, command: str, cwd: str, env: Mapping[str, str] | None
    ) -> CheckResult:
        try:
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", command, cwd=cwd, env={**os.environ, **(env or {})},
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            )
        except OSError as exc:
            return CheckResult(check, False, f"cannot run {command!r} in {cwd}: {exc}")
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            return CheckResult(check, False, f"{command!r} took longer than {self.timeout:g}s")
        text = out.decode(errors="replace").strip()
        if len(text) > self.output_chars:
            text = "…" + text[-self.output_chars:]
        if proc.returncode == 0:
            return CheckResult(check, True, text)
        return CheckResult(check, False, f"{command!r} exited {proc.returncode}" +
                           (f":\n{text}" if text else ""))
