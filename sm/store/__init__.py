"""The store: one SQLite file in WAL mode. SQL lives in this package and only here."""

from sm.store.db import Store

__all__ = ["Store"]
