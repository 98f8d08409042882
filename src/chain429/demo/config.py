"""The demo's config file: the simulated providers, one chain through all four, fresh keys."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from chain429.demo.providers import Simulated

CHAIN = "default"


@dataclass(frozen=True, slots=True)
class DemoKeys:
    proxy: str  # for clients: /v1/*
    admin: str  # for the UI and the admin API


def new_keys() -> DemoKeys:
    return DemoKeys(
        proxy="sk-429chain-demo-" + secrets.token_urlsafe(18),
        admin="sk-429chain-admin-" + secrets.token_urlsafe(18),
    )


def demo_config(
    specs: Sequence[Simulated],
    urls: Mapping[str, str],
    keys: DemoKeys,
    data_dir: Path,
    host: str,
    port: int,
) -> str:
    """The YAML text. Values are JSON scalars (valid YAML), so any path or key stays data."""

    def q(value: object) -> str:
        return json.dumps(value)

    lines = [
        "# Written by `429chain demo` on every start (the simulated providers get new ports).",
        "# Nothing here calls a real provider; the api_keys below are not real either.",
        "version: 1",
        "settings:",
        f"  host: {q(host)}",
        f"  port: {port}",
        f"  api_keys: [{q(keys.proxy)}]",
        f"  admin_keys: [{q(keys.admin)}]",
        f"  default_chain: {CHAIN}",
        f"  database_url: {q(str(data_dir / '429chain.db'))}",
        f"  state_path: {q(str(data_dir / '429chain-state.db'))}",
        "providers:",
    ]
    for spec in specs:
        lines += [
            f"  - id: {spec.id}",
            f"    type: {spec.type}",
            f"    name: {q(spec.name)}",
            f"    base_url: {q(urls[spec.id])}",
            f"    api_key: {q('demo-key-' + spec.id)}",
        ]
        if spec.timeout_ms is not None:
            lines.append(f"    timeout_ms: {spec.timeout_ms}")
    lines += ["chains:", f"  - name: {CHAIN}", "    entries:"]
    lines += [f"      - {{provider: {s.id}, model: {q(s.model)}}}" for s in specs]
    return "\n".join(lines) + "\n"


def write_config(path: Path, text: str) -> None:
    """Write atomically with mode 0600: it holds the proxy and admin keys."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)
