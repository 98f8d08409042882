"""The runtime objects a config's settings describe; built at start and again on each change."""

from __future__ import annotations

from chain429 import __version__
from chain429.config.load import LoadedConfig
from chain429.config.schema import Settings
from chain429.engine.chain import ChainTable
from chain429.engine.walk import Caps, Timeouts
from chain429.http.auth import KeyCheck


def routes_for(loaded: LoadedConfig) -> ChainTable:
    user_agent = loaded.config.settings.user_agent or f"429chain/{__version__}"
    return ChainTable(loaded.config, loaded.disabled_providers, user_agent)


def timeouts_for(settings: Settings) -> Timeouts:
    return Timeouts(
        first_byte_s=settings.first_byte_timeout_ms / 1000,
        idle_s=settings.stream_idle_timeout_ms / 1000,
        deadline_s=settings.deadline_ms / 1000,
        stream_s=settings.stream_timeout_ms / 1000,
    )


def caps_for(settings: Settings) -> Caps:
    return Caps(body_bytes=settings.max_response_bytes)


def key_checks(settings: Settings) -> tuple[KeyCheck, KeyCheck]:
    """Proxy keys and admin keys; admin keys default to the proxy keys.

    An admin key is a proxy key too, when the proxy has keys at all: the more trusted key must
    not be refused what the lesser may do (the UI's playground and quota panel send it).
    """
    admin = settings.admin_keys if settings.admin_keys is not None else settings.api_keys
    proxy = [*settings.api_keys, *admin] if settings.api_keys else []
    return KeyCheck(dict.fromkeys(proxy)), KeyCheck(admin)
