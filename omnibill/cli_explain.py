"""`omnibill` commands for explain (registered on the app from omnibill/cli.py)."""

from omnibill.cli import app  # noqa: F401  (commands here use @app.command())
