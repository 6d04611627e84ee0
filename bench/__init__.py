"""Benchmarks against the local stack (Temporal dev server, worker, API) that `bench.stack` starts.

See bench/README.md: `python -m bench.intake`, `bench.clocks`, `bench.lifecycle`, `bench.actions`.
"""
