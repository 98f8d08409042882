"""The OpenAI Responses API, stateless subset, served on top of chat completions.

`to_chat` turns a request into a chat request (`responses_request` lists what is ignored and
what is refused), `from_chat` turns a chat completion into a Response, `ResponsesStream` turns
a chat stream into Responses events, and `conversation` gives the chat messages to keep so that
a later request's previous_response_id can continue the exchange (the caller stores them).
"""

from __future__ import annotations

import secrets

from chain429.dialects.responses_answer import conversation, from_chat, response_base
from chain429.dialects.responses_request import to_chat
from chain429.dialects.responses_stream import ResponsesStream

__all__ = [
    "ResponsesStream",
    "conversation",
    "from_chat",
    "new_response_id",
    "response_base",
    "to_chat",
]


def new_response_id() -> str:
    """A fresh Response id: "resp_" and 48 random hex digits, as OpenAI's look."""
    return "resp_" + secrets.token_hex(24)
