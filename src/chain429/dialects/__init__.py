"""Client API dialects served by our chat chains: Anthropic Messages and OpenAI Responses.

Each dialect is sans-I/O: it turns its client's request into an OpenAI chat request, a chat
completion back into its answer, and an OpenAI chat stream (SSE bytes, split anywhere) into its
own event stream, chunk by chunk. The HTTP layer (`http/dialect_api.py`) does the rest through
the same walk as `/v1/chat/completions`.
"""

from __future__ import annotations

from typing import Protocol


class StreamTranslator(Protocol):
    """Rewrites one OpenAI chat completion stream into a dialect's server-sent events."""

    def begin(self) -> bytes:
        """The events to send before the first upstream chunk (e.g. `message_start`)."""
        ...

    def feed(self, raw: bytes) -> bytes:
        """OpenAI SSE bytes in (any split, `[DONE]` and our `{"error": ...}` event included);
        the dialect's SSE bytes out, possibly empty."""
        ...

    def end(self) -> bytes:
        """The upstream stream is over: close what is open. Idempotent; empty after an error."""
        ...
