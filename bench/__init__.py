"""Benchmarks for 429chain: a fast mock upstream, a bare pass-through baseline, a wrk driver.

Run `uv run python -m bench` (or `make bench`); see bench/README.md.
"""
