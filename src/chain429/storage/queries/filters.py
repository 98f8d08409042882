"""Which rows a stats query covers: the `Filters` on requests, attempts and daily rollups."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.sql import ColumnElement

from chain429.storage import tables

DAY = 86_400

R = tables.requests
A = tables.attempts
D = tables.daily_rollups


class Fetcher(Protocol):
    """What the queries need of a store: run a Core SELECT, rows as dicts (`Store.fetch`)."""

    async def fetch(self, statement: Any) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class Filters:
    """Row filters shared by the queries; None means "any". `until` is exclusive."""

    since: float | None = None
    until: float | None = None
    chain: str | None = None
    provider: str | None = None
    model: str | None = None
    key_label: str | None = None

    def requests(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.since is not None:
            clauses.append(R.c.ts >= self.since)
        if self.until is not None:
            clauses.append(R.c.ts < self.until)
        for name, value in self._columns():
            clauses.append(R.c[name] == value)
        return clauses

    def rollups(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.since is not None:
            clauses.append(D.c.day >= day_of(self.since))
        if self.until is not None:
            last = self.until if self.until % DAY else self.until - DAY
            clauses.append(D.c.day <= day_of(last))
        for name, value in self._columns():
            clauses.append(D.c[name] == value)
        return clauses

    def attempts(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.since is not None:
            clauses.append(A.c.ts >= self.since)
        if self.until is not None:
            clauses.append(A.c.ts < self.until)
        if self.provider is not None:
            clauses.append(A.c.provider == self.provider)
        if self.model is not None:
            clauses.append(A.c.model == self.model)
        if self.chain is not None or self.key_label is not None:
            owners = select(R.c.id)
            if self.chain is not None:
                owners = owners.where(R.c.chain == self.chain)
            if self.key_label is not None:
                owners = owners.where(R.c.key_label == self.key_label)
            clauses.append(A.c.request_id.in_(owners))
        return clauses

    def _columns(self) -> Iterable[tuple[str, str]]:
        named = (
            ("chain", self.chain),
            ("provider", self.provider),
            ("model", self.model),
            ("key_label", self.key_label),
        )
        return ((name, value) for name, value in named if value is not None)


UNFILTERED = Filters()  # every row: the default of every query


def day_of(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d")


def day_start(day: str) -> float:
    return dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.UTC).timestamp()
