"""Tracker state to plain JSON-able rows and back, keyed as the tracker keys it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from chain429.quota.drained import DrainedBucket
from chain429.quota.learned import LearnedWindow
from chain429.quota.state import Cooldown, EntryState, QuotaState
from chain429.quota.windows import SLIDING, FixedWindow, SlidingWindow

ENTRY, PROVIDER, QUOTA = "entry:", "provider:", "quota:"


def export_state(
    entries: dict[str, EntryState],
    providers: dict[str, EntryState],
    quotas: dict[str, QuotaState],
    keys: set[str] | None,
    now: float,
) -> dict[str, dict[str, Any]]:
    """Rows worth keeping; a row whose state has lapsed is exported as {} (delete it)."""
    rows: dict[str, dict[str, Any]] = {}
    for prefix, table in ((ENTRY, entries), (PROVIDER, providers)):
        for key, state in table.items():
            if keys is None or key in keys or prefix + key in keys:
                rows[prefix + key] = _entry_row(state, now)
    for key, quota in quotas.items():
        if keys is None or key in keys:
            rows[QUOTA + key] = _quota_row(quota, now)
    return rows


def _entry_row(state: EntryState, now: float) -> dict[str, Any]:
    row: dict[str, Any] = {}
    if state.cooldown is not None and state.cooldown.until > now:
        row["cooldown"] = asdict(state.cooldown)
    if state.failures or state.breaker_opens:
        row["failures"], row["breaker_opens"] = state.failures, state.breaker_opens
    if state.unhinted:
        row["unhinted"] = state.unhinted
    if state.spent_daily:
        row["spent_daily"] = state.spent_daily
    if state.latency_ms is not None:
        row["latency_ms"], row["latency_at"] = round(state.latency_ms, 2), state.latency_at
    return row


def _quota_row(quota: QuotaState, now: float) -> dict[str, Any]:
    row: dict[str, Any] = {}
    learned = {k: w.dump() for k, w in quota.learned.items() if w.reset_at > now}
    if learned:
        row["learned"] = learned
    manual = {}
    for name, counter in quota.manual.items():
        if counter.used(now) > 0:
            kind = "fixed" if isinstance(counter, FixedWindow) else "sliding"
            manual[name] = {"type": kind, **counter.dump()}
    if manual:
        row["manual"] = manual
    if quota.drained is not None and not quota.drained.expired(now):
        row["drained"] = quota.drained.dump()
    return row


def restore_state(
    entries: dict[str, EntryState],
    providers: dict[str, EntryState],
    quotas: dict[str, QuotaState],
    rows: dict[str, dict[str, Any]],
    now: float,
) -> None:
    for key, row in rows.items():
        if key.startswith(ENTRY):
            entries[key.removeprefix(ENTRY)] = _entry_state(row, now)
        elif key.startswith(PROVIDER):
            providers[key.removeprefix(PROVIDER)] = _entry_state(row, now)
        elif key.startswith(QUOTA):
            quotas[key.removeprefix(QUOTA)] = _quota_state(row)


def _entry_state(row: dict[str, Any], now: float) -> EntryState:
    state = EntryState(
        failures=row.get("failures", 0),
        breaker_opens=row.get("breaker_opens", 0),
        unhinted=row.get("unhinted", 0),
        spent_daily=row.get("spent_daily", 0),
        latency_ms=row.get("latency_ms"),
        latency_at=row.get("latency_at", 0.0),
    )
    cooldown = row.get("cooldown")
    if cooldown and cooldown["until"] > now:
        state.cooldown = Cooldown(**cooldown)
    return state


def _quota_state(row: dict[str, Any]) -> QuotaState:
    quota = QuotaState()
    for key, data in row.get("learned", {}).items():
        window = LearnedWindow.load(data)
        window.reserved = 0.0  # nothing is in flight after a restart
        quota.learned[key] = window
    for name, data in row.get("manual", {}).items():
        counter: SlidingWindow | FixedWindow
        if data.get("type") == "fixed":
            counter = FixedWindow()
        else:
            counter = SLIDING[name.rpartition("_")[2]]()
        counter.load(data)
        quota.manual[name] = counter
    drained = row.get("drained")
    if drained:
        quota.drained = DrainedBucket.load(drained)
    return quota
