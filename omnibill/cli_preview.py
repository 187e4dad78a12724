"""`omnibill` commands for preview (registered on the app from omnibill/cli.py)."""

from omnibill.cli import app  # noqa: F401  (commands here use @app.command())
