"""The `429chain` command: serve, init, check, demo and health."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from chain429 import __version__

DEFAULT_CONFIG = "./config/config.yaml"
HEALTH_URL = "http://127.0.0.1:3429/health"
logger = logging.getLogger("chain429")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "serve"
    if command == "init":
        return _init(Path(args.path) if args.path else _config_path(args))
    if command == "check":
        return _check(_config_path(args))
    if command == "demo":
        return _demo(args)
    if command == "health":
        return _health(args.url)
    return _serve(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="429chain",
        description="OpenAI-compatible proxy that waterfalls requests through free-tier chains.",
    )
    parser.add_argument("--version", action="version", version=f"429chain {__version__}")
    _serve_options(parser)
    parser.set_defaults(path=None)
    commands = parser.add_subparsers(dest="command")
    # Sub-commands leave unset options alone (SUPPRESS), so `429chain -c x serve` keeps `-c x`.
    serve = commands.add_parser(
        "serve", help="run the proxy (the default command)", argument_default=argparse.SUPPRESS
    )
    _serve_options(serve)
    init = commands.add_parser(
        "init", help="write a commented example config", argument_default=argparse.SUPPRESS
    )
    init.add_argument("path", nargs="?", help=f"where to write it ({DEFAULT_CONFIG})")
    init.add_argument("-c", "--config", help="same as PATH")
    check = commands.add_parser(
        "check",
        help="validate a config and print every problem",
        argument_default=argparse.SUPPRESS,
    )
    check.add_argument("-c", "--config", help=f"config file to check ({DEFAULT_CONFIG})")
    demo = commands.add_parser(
        "demo",
        help="run the proxy with simulated free-tier providers and traffic (no keys needed)",
        description="Run the proxy with four simulated free tiers and gentle traffic. It uses "
        "its own config and data directory and never reads or writes ./config/config.yaml.",
        argument_default=argparse.SUPPRESS,
    )
    demo.add_argument("-p", "--port", type=_port, help="port (3429; 0 = any free port)")
    demo.add_argument("--host", help="address to bind (127.0.0.1)")
    demo.add_argument(
        "--data-dir",
        help="keep the demo's config and request log here (default: a temporary directory, "
        "removed on exit)",
    )
    demo.add_argument(
        "--no-traffic", action="store_true", help="do not send the demo's own requests"
    )
    demo.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    demo.add_argument("--log-format", choices=["text", "json"])
    health = commands.add_parser(
        "health",
        help="exit 0 if a running proxy answers /health (for container healthchecks)",
        argument_default=argparse.SUPPRESS,
    )
    health.add_argument(
        "--url", default=HEALTH_URL, help=f"the proxy's health endpoint ({HEALTH_URL})"
    )
    return parser


def _serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", help=f"config file ({DEFAULT_CONFIG}, or $CHAIN429_CONFIG)"
    )
    parser.add_argument("-p", "--port", type=_port, help="port (3429)")
    parser.add_argument("--host", help="address to bind (127.0.0.1)")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", choices=["text", "json"])
    parser.add_argument(
        "--shutdown-grace",
        type=float,
        metavar="SECONDS",
        help="on SIGTERM/SIGINT, how long in-flight requests and streams may finish (30)",
    )


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535 (0 = any free port): {port}")
    return port


def _config_path(args: argparse.Namespace) -> Path:
    return Path(args.config or os.environ.get("CHAIN429_CONFIG") or DEFAULT_CONFIG)


def _init(path: Path) -> int:
    from chain429.config.example import write_example

    try:
        key = write_example(path)
    except FileExistsError:
        print(f"429chain: {path} already exists; not overwriting it.", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"429chain: cannot write {path}: {err.strerror or err}", file=sys.stderr)
        return 1
    print(_next_steps(path, key))
    return 0


def _next_steps(path: Path, key: str, url: str = "http://127.0.0.1:3429/v1") -> str:
    return (
        f"Wrote {path} (mode 0600).\n\n"
        "Next steps:\n"
        "  1. Export the keys of the providers you use, e.g. export GROQ_API_KEY=gsk_...\n"
        "     Providers whose key is not set are skipped.\n"
        f"  2. Check the config:   429chain check -c {path}\n"
        f"  3. Run the proxy:      429chain -c {path}\n"
        f"  4. Point any OpenAI SDK at {url} with this proxy key:\n"
        f"       {key}\n"
    )


def _serving_default(path: Path, key: str, url: str) -> str:
    return (
        f"No config was found, so 429chain wrote a commented example to {path} (mode 0600)\n"
        "and is serving it now. Its chains use the providers whose keys are set: export\n"
        "e.g. GROQ_API_KEY=gsk_... (see the file) and restart.\n"
        f"Point any OpenAI SDK at {url} with this proxy key:\n"
        f"    {key}\n"
    )


def _check(path: Path) -> int:
    from chain429.config.load import ConfigError, load_config

    try:
        loaded = load_config(path)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    for warning in loaded.warnings:
        print(f"warning: {warning}")
    config = loaded.config
    print(
        f"{path}: OK ({len(config.providers)} providers, {len(config.chains)} chains, "
        f"{len(loaded.disabled_providers)} disabled)"
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    from chain429.config.load import ConfigError, load_config

    path = _config_path(args)
    written_key = None
    if not path.exists() and args.config is None and "CHAIN429_CONFIG" not in os.environ:
        # The zero-setup start (`make run`): write the example config, then serve it.
        from chain429.config.example import write_example

        try:
            written_key = write_example(path)
        except OSError as err:
            print(
                f"429chain: no config at {path}, and cannot write one there: {err.strerror or err}",
                file=sys.stderr,
            )
            return 1
    try:
        loaded = load_config(path)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    settings = loaded.config.settings
    host = args.host if args.host is not None else settings.host
    port = args.port if args.port is not None else settings.port
    if not settings.api_keys and not _is_loopback(host):
        print(
            f"429chain: refusing to listen on {host} with no settings.api_keys: anyone could "
            "use your provider keys. Add a proxy key, or bind 127.0.0.1.",
            file=sys.stderr,
        )
        return 1
    if written_key is not None:
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{'127.0.0.1' if shown in ('0.0.0.0', '[::]') else shown}:{port}/v1"
        print(_serving_default(path, written_key, url), file=sys.stderr)
    from chain429.logs import configure_logging
    from chain429.server import ListenError, serve_forever

    redactor = configure_logging(
        args.log_level or settings.log_level,
        args.log_format or settings.log_format,
        loaded.config.secrets(),
    )
    for warning in loaded.warnings:
        logger.warning(warning)
    try:
        serve_forever(loaded, host, port, on_secrets=redactor.update, grace_s=args.shutdown_grace)
    except ListenError as err:
        print(f"429chain: {err}", file=sys.stderr)
        return 1
    return 0


def _demo(args: argparse.Namespace) -> int:
    from chain429.demo.run import DemoOptions, run_demo

    data_dir = getattr(args, "data_dir", None)
    return run_demo(
        DemoOptions(
            host=args.host or "127.0.0.1",
            port=args.port if args.port is not None else 3429,
            data_dir=Path(data_dir) if data_dir else None,
            traffic=not getattr(args, "no_traffic", False),
            log_level=args.log_level or "info",
            log_format=args.log_format or "text",
        )
    )


def _health(url: str) -> int:
    """GET the health endpoint with the standard library only (no curl in slim images)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read(4096).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        print(f"429chain health: {url}: {reason}", file=sys.stderr)
        return 1
    print(body.strip())
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
