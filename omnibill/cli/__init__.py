"""The command line: `app.py` assembles one module per command group (run, status, explain, preview, db, ops)."""
