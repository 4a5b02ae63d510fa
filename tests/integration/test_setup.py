"""setup.sh links ``sm`` onto PATH and says what it replaced (run with --link-only: the
rest of setup is package installs)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / ".venv" / "bin" / "sm"


def _link(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "setup.sh"), "--link-only", "--bin-dir", str(bin_dir)],
                          capture_output=True, text=True, timeout=60, check=True)


def _said(out: subprocess.CompletedProcess[str]) -> str:
    return out.stdout.replace("\x1b[1m==>\x1b[0m ", "").strip()


def test_setup_links_sm_and_says_what_it_replaced(tmp_path: Path) -> None:
    link = tmp_path / "sm"
    assert _said(_link(tmp_path)) == f"linked {link} to {TARGET}"
    assert link.resolve() == TARGET.resolve()
    assert _said(_link(tmp_path)) == f"{link} already links to {TARGET}"
    link.unlink()
    link.symlink_to("/elsewhere/.venv/bin/sm")
    assert _said(_link(tmp_path)) == (f"replaced {link}: it linked to "
                                      f"/elsewhere/.venv/bin/sm, now to {TARGET}")
    assert link.resolve() == TARGET.resolve()


def test_setup_leaves_a_file_that_is_not_a_link_alone(tmp_path: Path) -> None:
    (tmp_path / "sm").write_text("#!/bin/sh\necho another sm\n")
    out = _link(tmp_path)
    assert out.stderr.strip() == (f"setup.sh: left {tmp_path / 'sm'} alone: it is not a link "
                                  f"(remove it, or run {TARGET})")
    assert (tmp_path / "sm").read_text().startswith("#!/bin/sh")
