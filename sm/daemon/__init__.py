"""The daemon: FastAPI on a Unix socket. Importing it opens nothing."""
