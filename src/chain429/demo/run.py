"""Run the demo: start the simulated providers, write its config, say how to use it, serve."""

from __future__ import annotations

import logging
import random
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from chain429.demo.background import Background
from chain429.demo.config import CHAIN, DemoKeys, demo_config, new_keys, write_config
from chain429.demo.providers import SIMULATED
from chain429.demo.traffic import Traffic

logger = logging.getLogger("chain429")


@dataclass(frozen=True, slots=True)
class DemoOptions:
    host: str = "127.0.0.1"
    port: int = 3429
    data_dir: Path | None = None  # None: a temporary directory, removed on exit
    traffic: bool = True
    log_level: str = "info"
    log_format: str = "text"


def run_demo(options: DemoOptions) -> int:
    from chain429.config.load import ConfigError, load_config
    from chain429.logs import configure_logging
    from chain429.server import ListenError, listen_sockets, serve_forever

    host = options.host
    try:
        # Bind once up front: a busy port is a clean error before anything starts, and port 0
        # becomes a real port the printed commands can name.
        probe = listen_sockets(host, options.port)
    except ListenError as err:
        print(f"429chain demo: {err}", file=sys.stderr)
        return 1
    port = probe[0].getsockname()[1]
    for sock in probe:
        sock.close()

    temporary = options.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="429chain-demo-")) if temporary else options.data_dir
    assert data_dir is not None
    rng = random.Random()
    background = Background(SIMULATED, rng)
    try:
        urls = background.start()
        keys = new_keys()
        path = data_dir / "config.yaml"
        write_config(path, demo_config(SIMULATED, urls, keys, data_dir, host, port))
        try:
            loaded = load_config(path, env={})
        except ConfigError as err:  # pragma: no cover - the demo writes a valid config
            print(err, file=sys.stderr)
            return 1
        local = _local_url(host, port)
        print(banner(local, keys, data_dir, temporary, options.traffic), flush=True)
        redactor = configure_logging(options.log_level, options.log_format, loaded.config.secrets())
        if options.traffic:
            background.start_traffic(Traffic(local, keys.proxy, rng))
        try:
            serve_forever(loaded, host, port, on_secrets=redactor.update)
        except ListenError as err:
            print(f"429chain demo: {err}", file=sys.stderr)
            return 1
        return 0
    finally:
        background.stop()
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)


def _local_url(host: str, port: int) -> str:
    """Where a client on this machine reaches the proxy."""
    if host in ("0.0.0.0", "::", ""):
        return f"http://127.0.0.1:{port}"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def ui_built() -> bool:
    return resources.files("chain429").joinpath("web/dist/index.html").is_file()


def banner(url: str, keys: DemoKeys, data_dir: Path, temporary: bool, traffic: bool) -> str:
    names = ", ".join(spec.name.removesuffix(" (simulated)") for spec in SIMULATED)
    ui = (
        f"{url}/   (admin key below)"
        if ui_built()
        else "not built into this install (cd web && npm ci && npm run build)"
    )
    kept = "removed on exit; keep it with --data-dir" if temporary else "kept"
    flow = (
        "a request every ~2 s, in small bursts now and then (--no-traffic turns it off)"
        if traffic
        else "off"
    )
    curl = (
        f"curl -s {url}/v1/chat/completions -H 'Authorization: Bearer {keys.proxy}' "
        "-H 'Content-Type: application/json' "
        f'-d \'{{"model": "{CHAIN}", "messages": [{{"role": "user", "content": "Hello!"}}]}}\''
    )
    sdk = (
        "from openai import OpenAI\n"
        f'client = OpenAI(base_url="{url}/v1", api_key="{keys.proxy}")\n'
        f'reply = client.chat.completions.create(model="{CHAIN}", '
        'messages=[{"role": "user", "content": "Hello!"}])\n'
        "print(reply.choices[0].message.content)"
    )
    return (
        f"429chain demo: simulated free tiers ({names}); no keys, nothing real is called.\n"
        f"  UI:         {ui}\n"
        f"  API:        {url}/v1\n"
        f"  proxy key:  {keys.proxy}\n"
        f"  admin key:  {keys.admin}\n"
        f"  data:       {data_dir} ({kept})\n"
        f"  traffic:    {flow}\n"
        "\n"
        "Try it with curl:\n"
        f"{curl}\n"
        "\n"
        "or with the openai SDK (pip install openai):\n"
        f"{sdk}\n"
    )
