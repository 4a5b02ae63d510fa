"""Files only their owner may read (mode 0600): session tokens, the telemetry
receiver's secret, the web login's signing key. Stdlib only."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def write_private(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` with mode 0600, atomically: the file is created private
    under a temporary name and renamed over ``path``, so no reader ever sees it partial
    or readable by others."""
    tmp = path.with_name(f".{path.name}-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def private_secret(path: Path, make: Callable[[], bytes],
                   valid: Callable[[bytes], bool] = bool) -> bytes:
    """The secret kept in ``path``; made with ``make`` (and written private) when the
    file is missing or what it holds is not ``valid``."""
    try:
        data = path.read_bytes()
        if valid(data):
            return data
    except FileNotFoundError:
        pass
    data = make()
    write_private(path, data)
    return data
