"""Proxy keys: `Authorization: Bearer` or `x-api-key`, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping

from chain429.errors import ProxyError
from chain429.redact import mask_secret


class KeyCheck:
    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = [k.encode() for k in keys if k]
        # What the request log calls each key: its masked form, never the key.
        self._labels = [mask_secret(k.decode()) for k in self._keys]

    @property
    def open(self) -> bool:
        """No keys configured: the proxy accepts every caller (only allowed on loopback)."""
        return not self._keys

    def require(self, headers: Mapping[str, str]) -> str:
        """The label of the key presented, or a 401."""
        if not self._keys:
            return "open"
        sent = presented(headers)
        if sent is None:
            raise ProxyError(
                401,
                "Missing API key. Send 'Authorization: Bearer <key>' or 'x-api-key: <key>'.",
                code="missing_api_key",
                type="authentication_error",
            )
        candidate = sent.encode()
        # Compare with every key so the time taken says nothing about which one matched.
        matched = -1
        for index, key in enumerate(self._keys):
            if hmac.compare_digest(candidate, key):
                matched = index
        if matched < 0:
            raise ProxyError(
                401, "Invalid API key.", code="invalid_api_key", type="authentication_error"
            )
        return self._labels[matched]


def presented(headers: Mapping[str, str]) -> str | None:
    """The key a request sent, if any (not yet checked)."""
    authorization = headers.get("Authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    api_key = headers.get("x-api-key")
    return api_key.strip() if api_key else None
