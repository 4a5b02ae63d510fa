"""The store: one SQLite file in WAL mode. SQL lives in this package and only here."""

import aiosqlite

from sm.store.db import Store

Conn = aiosqlite.Connection  # a write transaction's connection, as core passes it on

__all__ = ["Conn", "Store"]
