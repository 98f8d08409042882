"""Where each `${VAR}` of a config is sent: the host of the provider that reads it.

An edit through the management API must not send a server secret to a host it did not go to
before. Checking only "a base_url that moves needs its key again" leaves two ways around it:
move the provider with a literal key, then set `api_key: ${OPENAI_API_KEY}` in a second edit;
or add a new provider on one's own host that reads the variable. So what is compared is the
pairs (variable, host): an edit may keep the pairs the running config has, and may add one
only for the official host of the provider's type (its preset's base URL). For any other host
the admin sends the key itself, which they must then know, or edits the file by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from chain429.config.load import referenced_names
from chain429.config.schema import Config, ProviderConfig
from chain429.config.spellings import canonical_path

Host = tuple[str, int | None]
# The provider fields whose text goes to its host: the key, the headers, the URL itself.
_SENT_FIELDS = frozenset({"api_key", "headers", "base_url"})


def url_host(url: str | None) -> Host | None:
    """(hostname, port as written) of an http(s) URL, or None when it has none."""
    try:
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        return parts.hostname, parts.port
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class SentReference:
    variable: str
    host: Host
    display: str  # the field, as the loader names it: "providers[2].apiKey"
    official: bool  # the host is the one the provider's type (preset) names


def sent_references(config: Config, env_refs: Mapping[str, str]) -> list[SentReference]:
    """Each variable a provider sends, with the host it goes to."""
    found = []
    for display, text in env_refs.items():
        path = canonical_path(display)
        if len(path) < 3 or path[0] != "providers" or path[2] not in _SENT_FIELDS:
            continue
        index = path[1]
        if not isinstance(index, int) or not 0 <= index < len(config.providers):
            continue
        provider = config.providers[index]
        host = url_host(provider.effective_base_url)
        if host is None:
            continue
        official = host == _official_host(provider)
        for name in referenced_names(text):
            found.append(SentReference(name, host, display, official))
    return found


def first_new_destination(
    before: tuple[Config, Mapping[str, str]], after: tuple[Config, Mapping[str, str]]
) -> SentReference | None:
    """A variable `after` sends to a host that `before` did not send it to (and that is not
    its provider's official host), or None."""
    known = {(ref.variable, ref.host) for ref in sent_references(*before)}
    for ref in sent_references(*after):
        if (ref.variable, ref.host) not in known and not ref.official:
            return ref
    return None


def _official_host(provider: ProviderConfig) -> Host | None:
    return url_host(provider.preset.base_url)
