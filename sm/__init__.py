"""sm: a session manager for swarms of AI coding agents.

Importing this package opens nothing and imports only the stdlib.
"""

__version__ = "0.1.0"
