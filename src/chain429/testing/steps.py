"""Scripted answers for the mock provider: each step describes one response."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Pause:
    """Inside `Stream.events`: sleep this long before the next event."""

    seconds: float


@dataclass(slots=True)
class Reply:
    """A plain (non-stream) response. `body=None` builds one: a completion on 2xx, else an error.

    A dict or list body is sent as JSON; a str or bytes body goes out as given, as text/plain
    unless `headers` names a content-type.
    """

    status: int = 200
    body: dict[str, Any] | list[Any] | str | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before anything is sent


StreamEvent: TypeAlias = str | bytes | Mapping[str, Any] | Pause


@dataclass(slots=True)
class Stream:
    """An SSE response.

    Each str is a data payload and each mapping is sent as JSON, both as `data: ...` and a
    blank line with `line_ending`; bytes go out raw (comments, garbage, odd framing).
    `events=None` streams the default reply built from the request. The headers go out at
    once, then `delay_first` passes before the first event (an upstream that commits early
    and thinks late). `interval` is slept between events. `reset_after=N` aborts the
    connection after N events, before `[DONE]`; 0 means right after the headers.
    """

    events: list[StreamEvent] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200
    line_ending: str = "\n"
    done: bool = True
    delay_first: float = 0.0
    reset_after: int | None = None
    interval: float = 0.0


@dataclass(frozen=True, slots=True)
class Hang:
    """Read the request and never answer, until the client leaves or the mock closes."""


@dataclass(frozen=True, slots=True)
class Drop:
    """Close the connection at once, without any HTTP response."""


Handler: TypeAlias = Callable[[web.Request], Awaitable[web.StreamResponse]]
"""The escape hatch: answer the (already read) request however an exotic test needs."""

Step: TypeAlias = Reply | Stream | Hang | Drop | Handler
