"""The HTTP connection: parser errors answered in our JSON shape, and the shutdown grace.

aiohttp answers a request its parser refuses (bad header bytes, an over-long line, too many
headers, an unknown method) before any app code runs: plain text that echoes the offending
bytes, plus a traceback in the log for each. Anyone can send those, so here they get the
OpenAI error shape, echo nothing, and cost at most one log line per period (a `Throttle`).

On shutdown, aiohttp waits `shutdown_timeout` for a request in progress, then cancels only
its body read and waits `shutdown_timeout` again: a streaming handler never notices, so the
grace was twice what was asked. Here the handler itself is cancelled when the grace ends,
marked as cut by shutdown (see `drain.py`), so it can tell its client and log why.

The subclasses reach into aiohttp's protected members (`_loop`, `_kwargs`, `_task_handler`,
`_request_in_progress`); tests/e2e/test_hostile_clients.py and test_shutdown.py pin them.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import (
    BadHttpMethod,
    ContentEncodingError,
    HttpProcessingError,
    LineTooLong,
)
from aiohttp.web_protocol import RequestHandler

from chain429.errors import error_body
from chain429.logs import Throttle

logger = logging.getLogger("chain429.http")

PARSE_ERROR_LOG_EVERY_S = 10.0
CUT_ALLOWANCE_S = 3.0  # after the cut, for the handler to write its error (drain.WRITE_LIMIT_S)


def parse_error(exc: HttpProcessingError) -> tuple[int, str, str]:
    """(status, code, message) for what the parser refused; never quotes the request."""
    if isinstance(exc, BadHttpMethod) and "HTTPS" in exc.message:
        return 400, "bad_request", "This port speaks plain HTTP, not HTTPS."
    if isinstance(exc, BadHttpMethod):
        return 501, "method_not_implemented", "The request method is not one this server knows."
    if isinstance(exc, LineTooLong) or "Too many headers" in exc.message:
        return (
            431,
            "request_header_fields_too_large",
            "The request line or headers are too long or too many.",
        )
    if isinstance(exc, ContentEncodingError) and "install" in exc.message:
        return (
            415,
            "unsupported_content_encoding",
            "The request's Content-Encoding is not supported: send it plain, gzip or deflate.",
        )
    if isinstance(exc, ContentEncodingError):
        return 400, "invalid_body", "The request body does not decode as its Content-Encoding."
    if exc.code == 413:
        return 413, "request_too_large", "The request body is larger than the configured limit."
    return 400, "bad_request", "The request is not valid HTTP/1.1."


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class ProxyRequestHandler(RequestHandler):
    """aiohttp's connection handler, with JSON parser errors and a single shutdown grace."""

    def __init__(self, manager: web.Server, *, parse_log: Throttle, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._parse_log = parse_log
        self.cut_by_shutdown = False  # set when the grace ended with the handler still busy

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: too late for another response
            raise ConnectionError("the response has started; cannot send an error instead")
        if isinstance(exc, HttpProcessingError):
            status, code, text = parse_error(exc)
            self._parse_log.warning(
                "refused a malformed request from %s: %d %s (%s)",
                request.remote,
                status,
                code,
                type(exc).__name__,
            )
            body = error_body(text, code=code)
        else:  # a handler failed outside our middleware (which answers everything else)
            self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
            code = "internal_error" if status == 500 else "http_error"
            body = error_body(_phrase(status), type="server_error", code=code)
        response = web.Response(
            status=status, body=orjson.dumps(body), content_type="application/json"
        )
        response.force_close()
        return response

    async def shutdown(self, timeout: float | None = 15.0) -> None:  # noqa: ASYNC109 - aiohttp's
        if timeout is None:
            await super().shutdown(None)
            return
        # The cut comes at `timeout`; aiohttp's own wait runs a little longer, so the handler
        # ends (and resolves aiohttp's waiter) inside it: a waiter timing out at the very moment
        # the handler ends makes aiohttp log an InvalidStateError.
        cut = asyncio.get_running_loop().call_later(timeout, self._cut)
        try:
            await super().shutdown(timeout + CUT_ALLOWANCE_S)
        finally:
            cut.cancel()

    def _cut(self) -> None:
        """The grace is over: cancel the request still running, saying why."""
        task = self._task_handler
        if self._request_in_progress and task is not None and not task.done():
            self.cut_by_shutdown = True
            task.cancel()


class ProxyServer(web.Server):
    """aiohttp's server, building `ProxyRequestHandler`s; made from the one AppRunner built."""

    def __init__(self, made: web.Server, parse_log: Throttle) -> None:
        super().__init__(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=made._loop,
            **made._kwargs,
        )
        self.parse_log = parse_log

    def __call__(self) -> RequestHandler:
        return ProxyRequestHandler(self, loop=self._loop, parse_log=self.parse_log, **self._kwargs)


class ProxyRunner(web.AppRunner):
    """An AppRunner whose server is a `ProxyServer`; `shutdown_timeout` is the whole grace."""

    def __init__(
        self, app: web.Application, *, parse_log: Throttle | None = None, **kw: Any
    ) -> None:
        super().__init__(app, **kw)
        self._parse_log = parse_log or Throttle(logger, PARSE_ERROR_LOG_EVERY_S)

    async def _make_server(self) -> web.Server:
        return ProxyServer(await super()._make_server(), self._parse_log)
