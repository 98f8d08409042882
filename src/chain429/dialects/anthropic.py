"""The Anthropic Messages API dialect: what the HTTP layer imports.

Requests go through `to_chat`, whole answers through `from_chat`, streams through
`AnthropicStream`; errors are rendered with `error_body`. `chat_usage` reads a native
answer's usage (an entry that speaks Messages itself) in OpenAI's shape. The pieces live in
`anthropic_request`, `anthropic_answer` and `anthropic_stream`.
"""

from __future__ import annotations

from chain429.dialects.anthropic_answer import (
    chat_usage,
    error_body,
    error_type,
    from_chat,
    new_message_id,
)
from chain429.dialects.anthropic_request import to_chat, wants_thinking
from chain429.dialects.anthropic_stream import AnthropicStream

__all__ = [
    "AnthropicStream",
    "chat_usage",
    "error_body",
    "error_type",
    "from_chat",
    "new_message_id",
    "to_chat",
    "wants_thinking",
]
