"""Private files: written 0600 and whole, or not at all."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sm.private import private_secret, write_private


def test_written_private_and_whole(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("old, world-readable")
    path.chmod(0o644)
    write_private(path, b"s3cret")
    assert path.read_bytes() == b"s3cret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["token"]  # no temporary left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_bytes(b"old")
    with pytest.raises(TypeError):
        write_private(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["token"]


def test_a_secret_is_made_once_and_remade_when_unusable(tmp_path: Path) -> None:
    path = tmp_path / "key"
    made = iter([b"k" * 32, b"j" * 32])
    first = private_secret(path, lambda: next(made), lambda b: len(b) >= 32)
    assert private_secret(path, lambda: next(made), lambda b: len(b) >= 32) == first
    path.write_bytes(b"short")
    assert private_secret(path, lambda: next(made), lambda b: len(b) >= 32) == b"j" * 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
