"""Check an answer against the shape the route table documents for its route."""

from __future__ import annotations

import re
from typing import Any

from chain429.http.routes import Route, route_table


def _pattern(path: str) -> re.Pattern[str]:
    def group(match: re.Match[str]) -> str:
        return f"({match.group(2) or '[^/]+'})"

    return re.compile("^" + re.sub(r"\{(\w+)(?::([^}]*))?\}", group, path) + "$")


ROUTES = [(route, _pattern(route.path)) for route in route_table()]


def route_for(method: str, path: str) -> Route | None:
    path = path.split("?", 1)[0]
    for route, pattern in ROUTES:
        if route.method == method and pattern.match(path):
            return route
    return None


def assert_shape(method: str, path: str, status: int, body: Any) -> None:
    """A 2xx JSON answer validates against the documented model (no extra fields)."""
    route = route_for(method, path)
    if not 200 <= status < 300:
        return
    assert route is not None, f"{method} {path} answered {status} but is not in the table"
    if route.response is not None and route.media in ("json", "json+sse"):
        route.response.model_validate(body)
