"""Retention, hourly: fold request rows older than `log_retention_days` into daily rollups, and
delete the saved Responses API answers that expired."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from chain429.storage.responses import prune_expired
from chain429.storage.store import Store, StoreRef

logger = logging.getLogger("chain429.storage")

DAY_S = 86_400


async def retention_loop(
    store_ref: StoreRef,
    days: float,
    clock: Callable[[], float] = time.time,
    *,
    interval_s: float = 3600.0,
) -> None:
    """Prune once the store is open, then every `interval_s`, until cancelled.

    `days <= 0` keeps every row. A failed prune is logged and tried again next time.
    """
    if days <= 0:
        return
    store = await _wait_for_store(store_ref)
    if store is None:
        return
    while True:
        cutoff = clock() - days * DAY_S
        try:
            pruned = await store.prune(cutoff)
        except Exception:
            logger.exception("request log: pruning rows older than %g days failed", days)
        else:
            if pruned:
                logger.info("request log: %d rows older than %g days rolled up", pruned, days)
        try:
            await prune_expired(store, clock())
        except Exception:
            logger.exception("saved responses: deleting the expired ones failed")
        await asyncio.sleep(interval_s)


async def _wait_for_store(store_ref: StoreRef) -> Store | None:
    while True:
        store = await store_ref.get()
        if store is not None or store_ref.ready:
            return store
