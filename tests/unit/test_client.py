"""The stdlib client's checks before it starts a daemon (no sockets involved)."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pytest

from sm import client
from sm.errors import InvalidInput, Unavailable


def test_a_writable_home_is_created(tmp_path: Path) -> None:
    home = tmp_path / "a" / "b"
    client._check_home(str(home))
    assert home.is_dir() and list(home.iterdir()) == []


def test_a_home_below_a_file_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(Unavailable, match="SM_HOME .* is not writable"):
        client._check_home(str(tmp_path / "file" / "home"))


def test_a_home_too_long_for_a_socket_is_invalid_and_not_created(tmp_path: Path) -> None:
    home = tmp_path / ("x" * 110)
    with pytest.raises(InvalidInput, match="is too long: its socket path .* the limit is 107"):
        client._check_home(str(home))
    assert not home.exists()


def test_concurrent_probes_do_not_fail_each_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interleave two callers deterministically: while the first holds its probe file
    open, a second runs the whole check (as a second `sm` process starting at the same
    moment does). ``open`` is wrapped only to get that interleaving."""
    real_open = builtins.open
    raced = []

    def racing_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        f = real_open(path, *args, **kwargs)
        if not raced and str(path).startswith(str(tmp_path)):
            raced.append(path)
            client._check_home(str(tmp_path))
        return f

    monkeypatch.setattr(client, "open", racing_open, raising=False)
    client._check_home(str(tmp_path))
    assert raced, "the check no longer opens a probe file; this test needs a new interleaving"
