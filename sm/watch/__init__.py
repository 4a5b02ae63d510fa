"""``sm watch``: the terminal dashboard. ``board.py`` is the plain data and render logic;
``app.py`` the Textual app (Textual is imported only by this package)."""
