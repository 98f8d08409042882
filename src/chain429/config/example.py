"""The commented example config that `429chain init` writes."""

from __future__ import annotations

import json
import os
import secrets
from importlib import resources
from pathlib import Path

_PLACEHOLDER = "__PROXY_KEY__"


def example_config(proxy_key: str) -> str:
    """The example YAML (every provider preset, three chains) with `proxy_key` as the client key."""
    template = resources.files("chain429.config").joinpath("example.yaml").read_text("utf-8")
    # A JSON string is a valid YAML double-quoted scalar, so any key text stays data.
    return template.replace(_PLACEHOLDER, json.dumps(proxy_key))


def new_proxy_key() -> str:
    """A fresh random key for clients of the proxy."""
    return "sk-429chain-" + secrets.token_urlsafe(24)


def write_example(path: Path) -> str:
    """Write the example config to a new file readable only by its owner; return the proxy key.

    Raises FileExistsError rather than overwrite a config someone may have edited.
    """
    path = Path(path).expanduser()
    if path.exists():
        raise FileExistsError(f"{path} already exists; not overwriting it")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_proxy_key()
    data = example_config(key).encode("utf-8")
    # O_EXCL closes the race with a file created after the check; 0600 because it holds a key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return key
