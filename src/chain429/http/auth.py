"""Proxy keys: `Authorization: Bearer` or `x-api-key`, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping

from chain429.errors import ProxyError


class KeyCheck:
    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = [k.encode() for k in keys if k]

    @property
    def open(self) -> bool:
        """No keys configured: the proxy accepts every caller (only allowed on loopback)."""
        return not self._keys

    def require(self, headers: Mapping[str, str]) -> None:
        if not self._keys:
            return
        presented = _presented(headers)
        if presented is None:
            raise ProxyError(
                401,
                "Missing API key. Send 'Authorization: Bearer <key>' or 'x-api-key: <key>'.",
                code="missing_api_key",
                type="authentication_error",
            )
        candidate = presented.encode()
        # Compare with every key so the time taken says nothing about which one matched.
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(candidate, key)
        if not matched:
            raise ProxyError(
                401, "Invalid API key.", code="invalid_api_key", type="authentication_error"
            )


def _presented(headers: Mapping[str, str]) -> str | None:
    authorization = headers.get("Authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    api_key = headers.get("x-api-key")
    return api_key.strip() if api_key else None
