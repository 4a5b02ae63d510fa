"""The Telegram bridge (python-telegram-bot inside the daemon).

Imported only by the daemon, and only when ``telegram.token`` is set: importing
``telegram`` costs ~200 ms, which the ``sm`` CLI must never pay. See ``bridge.py``.
"""
