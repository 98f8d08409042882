"""What a client API other than OpenAI chat does around the chat walk (`http/dialect_api.py`).

`/v1/messages` and `/v1/responses` are served by the same handler as `/v1/chat/completions`
(`openai_api.serve`): auth, the request log, the walk, the wait room and the error handling
are shared. An `Exchange` is the only difference: it turns the client's body into a chat
request, and the chat answer (whole, or stream chunk by chunk) back into the client's API.
Where providers speak the client's API themselves (Anthropic Messages), it also hands over
the client's own request, which such entries get untranslated; their answers pass through.
"""

from __future__ import annotations

from typing import Protocol

from chain429.engine.request import ClientRequest


class Exchange(Protocol):
    """One client request in a dialect: made per request, so it may hold that request's state."""

    async def prepare(self, raw: bytes, key_label: str) -> bytes:
        """The client's body as a chat completions body; raises ProxyError for bad input."""
        ...

    def native(self, chat: ClientRequest) -> ClientRequest | None:
        """The client's request in its own API, beside its `chat` translation, for entries
        that serve that API natively; None when no operation speaks it."""
        ...

    async def whole(self, body: bytes) -> bytes:
        """A chat completion (JSON bytes) as the client's answer."""
        ...

    def begin(self, chat: ClientRequest) -> bytes:
        """The client's first stream events, sent as soon as the stream is committed."""
        ...

    async def feed(self, part: bytes) -> bytes:
        """Chat SSE bytes from the relay in, the client's stream bytes out."""
        ...

    async def end(self) -> bytes:
        """The relay is done: whatever closes the client's stream."""
        ...

    def stopped(self) -> str | None:
        """Why the client's stream has ended before the upstream's (what it would keep passed
        a cap), or None. The relay then stops reading the upstream and logs the stream as
        failed; the entry is not charged (the upstream answered, only too much)."""
        ...
