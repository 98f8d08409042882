"""The Anthropic Messages API dialect: what the HTTP layer imports.

Requests go through `to_chat`, whole answers through `from_chat`, streams through
`AnthropicStream`; errors are rendered with `error_body`. The pieces live in
`anthropic_request`, `anthropic_answer` and `anthropic_stream`.
"""

from __future__ import annotations

from chain429.dialects.anthropic_answer import error_body, error_type, from_chat, new_message_id
from chain429.dialects.anthropic_request import to_chat, wants_thinking
from chain429.dialects.anthropic_stream import AnthropicStream

__all__ = [
    "AnthropicStream",
    "error_body",
    "error_type",
    "from_chat",
    "new_message_id",
    "to_chat",
    "wants_thinking",
]
