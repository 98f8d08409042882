"""Operations: the APIs a chain can serve (chat completions today), each a small value.

An operation says how a client's body is checked, which upstream path it goes to, and what a
valid answer looks like. The walk, the tracker and the outcome table are the same for all of
them; adding one (embeddings, legacy completions) is a new value here plus a route.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chain429.errors import ProxyError
from chain429.providers.presets import OperationName


@dataclass(frozen=True, slots=True)
class Operation:
    name: OperationName  # as presets list what a provider serves
    path: str  # under the provider's base URL
    check: Callable[[dict[str, Any]], None]  # raises ProxyError for a body it cannot send
    answer_field: str  # a success answer is a JSON object holding this list
    streams: bool  # whether `stream: true` gives OpenAI server-sent events

    def accepts(self, data: object) -> bool:
        """Whether a decoded upstream answer is a valid success of this operation."""
        return isinstance(data, dict) and isinstance(data.get(self.answer_field), list)


def _check_chat(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ProxyError(
            400, "'messages' is required and must be a non-empty array.", param="messages"
        )


CHAT = Operation("chat", "/chat/completions", _check_chat, "choices", streams=True)
