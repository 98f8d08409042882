"""The one OpenAI-shaped error type every layer raises and every response renders."""

from __future__ import annotations

from typing import Any


class ProxyError(Exception):
    """An error that reaches the client as `{"error": {message, type, code, param}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, type=self.type, code=self.code, param=self.param)


def error_body(
    message: str,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    """The OpenAI error envelope; the single place its shape is spelled out."""
    return {"error": {"message": message, "type": type, "code": code, "param": param}}
