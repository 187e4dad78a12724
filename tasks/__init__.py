"""Prefect tasks: thin wiring over the plain stage functions in omnibill/ (one task per stage and batch)."""
