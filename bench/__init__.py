"""Benchmarks that print figures: `python -m bench.run` (a whole run), `bench.render`, `bench.decide`."""
