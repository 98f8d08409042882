"""What a request still running when the shutdown grace ends tells its client.

`ProxyRequestHandler` cancels such a request's handler and marks the connection; the handler
catches the cancellation, asks `cut_by_shutdown`, and answers with a `shutdown` error: a 503
before the response started, an SSE error event in a stream that had.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from chain429.errors import ProxyError

WRITE_LIMIT_S = 2.0  # a client that does not read does not hold the exit up
MESSAGE = "429chain is shutting down; the request was cut at the end of the grace period."


def cut_by_shutdown(request: web.BaseRequest) -> bool:
    """True if the cancellation being handled is the shutdown's; it is then taken back."""
    if not getattr(request.protocol, "cut_by_shutdown", False):
        return False
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()  # the handler may now await its last writes
    return True


def shutdown_error() -> ProxyError:
    return ProxyError(503, MESSAGE, type="server_error", code="shutdown")


async def end_stream(response: web.StreamResponse, event: bytes) -> None:
    """Close a started stream with `event`, the shutdown error in the stream's own API (the
    relay's `error_event`, translated for /v1/messages and /v1/responses); no `[DONE]`."""
    with contextlib.suppress(ConnectionError, TimeoutError, RuntimeError):
        async with asyncio.timeout(WRITE_LIMIT_S):
            await response.write(event)
            await response.write_eof()
