"""The web dashboard: an adapter served by the daemon on a loopback TCP port.

``server.py`` (the listener), ``app.py`` (routes and the security guard), ``auth.py``
(login URL, cookie, CSRF, Host/Origin), ``views.py`` (reads), ``actions.py`` (what the
buttons do), ``terminal.py`` (a live terminal per viewer), ``assets.py`` (pinned npm
assets), ``static/`` (the page).
"""
