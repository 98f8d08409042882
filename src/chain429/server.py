"""Run the app: uvloop when available, a deep listen backlog, a graceful shutdown."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import signal
import socket
from collections.abc import Callable, Iterable

from aiohttp import web

from chain429 import __version__
from chain429.config.load import LoadedConfig
from chain429.http.app import create_app
from chain429.http.protocol import ProxyRunner

logger = logging.getLogger("chain429")

# 1,024 clients connecting at once overflow the default backlog of 128 (SYN drops, 1-3 s stalls).
BACKLOG = 2048
SHUTDOWN_GRACE_S = 30.0  # in-flight requests and streams, in all (README: Stopping)


class ListenError(Exception):
    """The address cannot be bound; `str()` says why, for a human."""


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every POSIX platform
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def listen_sockets(host: str, port: int) -> list[socket.socket]:
    """Bind every address `host` resolves to, before serving, so a busy port is a clean error."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError as err:
        raise ListenError(f"cannot resolve {host!r}: {err.strerror or err}") from None
    sockets: list[socket.socket] = []
    seen: set[tuple[object, ...]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if address in seen:
                continue
            seen.add(address)
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:  # as asyncio does: "::" must not also claim IPv4
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as err:
                shown = f"[{address[0]}]" if family == socket.AF_INET6 else address[0]
                reason = err.strerror or str(err)
                if err.errno == errno.EADDRINUSE:
                    reason += " (is another 429chain running? choose another port with -p)"
                raise ListenError(f"cannot listen on {shown}:{port}: {reason}") from None
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def serve_forever(
    loaded: LoadedConfig,
    host: str,
    port: int,
    on_secrets: Callable[[Iterable[str]], None] | None = None,
    grace_s: float | None = None,  # SHUTDOWN_GRACE_S
) -> None:
    """Serve until SIGINT/SIGTERM; raises ListenError (nothing served) if the port is taken."""
    sockets = listen_sockets(host, port)
    app = create_app(loaded, on_secrets=on_secrets)
    bound = sockets[0].getsockname()[1]  # the real port, also when asked for port 0
    shown = f"[{host}]" if ":" in host else host

    def announce() -> None:  # once every socket is listening
        # Everything imported and built so far lives as long as the process: keep the
        # collector from scanning it again and again under load.
        gc.freeze()
        config = loaded.config
        logger.info(
            "429chain %s listening on http://%s:%d/v1 (config %s: %d providers, %d chains)",
            __version__,
            shown,
            bound,
            loaded.path,
            len(config.providers),
            len(config.chains),
        )

    loop = _new_loop()
    asyncio.set_event_loop(loop)
    try:
        grace = SHUTDOWN_GRACE_S if grace_s is None else grace_s
        loop.run_until_complete(serve(app, sockets, announce, grace))
    except KeyboardInterrupt:  # a second Ctrl-C during the shutdown
        logger.warning("stopped at once: the shutdown did not finish")
    finally:
        _close_loop(loop)


async def serve(
    app: web.Application,
    sockets: list[socket.socket],
    announce: Callable[[], None],
    grace_s: float,
) -> None:
    """Serve on `sockets` until SIGINT/SIGTERM, then stop within `grace_s` (plus the flush).

    Not web.run_app: its runner cannot build our connection handler (JSON parser errors, one
    grace; see http/protocol.py), and it runs the shutdown inside a cancelled task.
    A second signal during the shutdown stops the process at once (the default handlers).
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    runner = ProxyRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=grace_s)
    await runner.setup()
    try:
        for sock in sockets:
            await web.SockSite(runner, sock, backlog=BACKLOG).start()
        announce()
        await stop.wait()
        for signum in signals:
            loop.remove_signal_handler(signum)
        logger.info("stopping: in-flight requests have %gs to finish", grace_s)
    finally:
        await runner.cleanup()


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """As asyncio.run does: cancel what is left, finish async generators, close."""
    try:
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
