"""Prometheus metrics, in a registry owned by the app (no module-level globals).

CONTRACT (implementation in progress).
"""

from __future__ import annotations

from chain429.storage.records import RequestRecord


class Metrics:
    def observe(self, record: RequestRecord) -> None:
        """Count one finished request: requests, attempts by outcome, tokens, latency."""
        raise NotImplementedError
