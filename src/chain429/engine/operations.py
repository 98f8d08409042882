"""Operations: the APIs a chain can serve (chat, embeddings, legacy completions), small values.

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
from chain429.vocabulary import ChainKind


@dataclass(frozen=True, slots=True)
class Operation:
    name: OperationName  # as presets list what a provider serves
    path: str  # under the provider's base URL
    check: Callable[[dict[str, Any]], None]  # raises ProxyError for a body it cannot send
    answer_field: str  # a success answer is a JSON object holding this list
    streams: bool  # whether `stream: true` gives OpenAI server-sent events
    # Which kind of chain serves it; and whether it generates tokens (embeddings count input
    # only, so no completion budget is reserved for them).
    kind: ChainKind = ChainKind.CHAT
    generates: bool = True

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


def _check_embeddings(body: dict[str, Any]) -> None:
    value = body.get("input")
    if isinstance(value, str) and value:
        return
    if isinstance(value, list) and value and all(_embeddable(item) for item in value):
        return
    raise ProxyError(
        400,
        "'input' is required: a non-empty string, or a non-empty array of strings or token arrays.",
        param="input",
    )


def _embeddable(item: object) -> bool:
    if isinstance(item, str | int) and not isinstance(item, bool):
        return True
    return isinstance(item, list) and all(
        isinstance(t, int) and not isinstance(t, bool) for t in item
    )


def _check_completions(body: dict[str, Any]) -> None:
    prompt = body.get("prompt")
    if isinstance(prompt, str) or (isinstance(prompt, list) and prompt):
        return
    raise ProxyError(400, "'prompt' is required: a string or an array of strings.", param="prompt")


EMBEDDINGS = Operation(
    "embeddings",
    "/embeddings",
    _check_embeddings,
    "data",
    streams=False,
    kind=ChainKind.EMBEDDINGS,
    generates=False,
)
COMPLETIONS = Operation("completions", "/completions", _check_completions, "choices", streams=True)
