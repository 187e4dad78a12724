"""Prefect flows: orchestration only; the work is in tasks/ and omnibill/."""

from omnibill.memory import limit_malloc_arenas

# A worker that runs deployments imports the flows without the `omnibill` command's entry point.
limit_malloc_arenas()
