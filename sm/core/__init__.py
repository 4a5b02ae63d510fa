"""Domain logic. Imports no FastAPI, typer, libtmux, aiosqlite or telegram."""
