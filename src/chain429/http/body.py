"""Reading a request body: its size limit up front, a deadline, and encodings that fail.

Bodies sent with `Content-Encoding: gzip` or `deflate` are decoded (aiohttp does it while
reading) and the limit applies to the decoded size. A body that does not decode is a 400; an
encoding this install cannot decode (br, zstd without their optional libraries) is a 415.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from chain429.errors import ProxyError

BODY_DEADLINE_S = 30.0  # the whole body must arrive within this, once the headers have
BODY_DEADLINE = web.AppKey("body_deadline_s", float)


def too_large(max_bytes: int) -> ProxyError:
    return ProxyError(413, f"The request body exceeds {max_bytes} bytes.", code="request_too_large")


async def read_body(request: web.Request, max_bytes: int) -> bytes:
    """The whole body, or an OpenAI-shaped 400/408/413."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise too_large(max_bytes)  # before reading a byte of it
    try:
        if request.content.is_eof():  # the usual case: it came with the headers, no timer
            return await request.read()
        deadline = request.app.get(BODY_DEADLINE, BODY_DEADLINE_S)
        try:
            async with asyncio.timeout(deadline):
                return await request.read()
        except TimeoutError:
            raise ProxyError(
                408,
                f"The request body did not arrive within {deadline:g} s.",
                code="request_timeout",
            ) from None
    except web.HTTPRequestEntityTooLarge:
        raise too_large(max_bytes) from None
    except web.RequestPayloadError:
        # Most often a body declared compressed that is not (Content-Encoding: gzip on JSON).
        raise ProxyError(
            400,
            "The request body could not be read as sent (does its Content-Encoding match it?).",
            code="invalid_body",
        ) from None
