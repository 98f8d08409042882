"""The base of every response shape, and the OpenAI error envelope."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict


class Shape(BaseModel):
    """A JSON object with exactly these fields (no others: the UI's types are exact)."""

    # defer_build: the schemas are built at first use, not at start-up (which must stay fast).
    model_config = ConfigDict(extra="forbid", defer_build=True)

    @classmethod
    def reply(cls, data: Any, status: int = 200) -> web.Response:
        """`data` checked against this shape, as a JSON response (stats and admin only)."""
        return web.json_response(cls.model_validate(data).model_dump(mode="json"), status=status)


class ErrorDetail(Shape):
    message: str
    type: str
    code: str | None
    param: str | None


class Error(Shape):
    """The OpenAI error envelope: every error, from any layer."""

    error: ErrorDetail


Auth = Literal["none", "proxy", "admin"]
