"""Operations: the APIs a chain can serve (chat, embeddings, legacy completions, Anthropic
messages), small values.

An operation says how a client's body is checked, which upstream path it goes to, and what a
valid answer looks like. The walk, the tracker and the outcome table are the same for all of
them; adding one (embeddings, legacy completions) is a new value here plus a route. MESSAGES
is the one operation in Anthropic's API rather than OpenAI's: a /v1/messages request goes as
it is to entries whose preset serves it, and as chat to the rest (`ClientRequest.native`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from chain429.dialects.anthropic import chat_usage
from chain429.errors import ProxyError
from chain429.providers.presets import OperationName
from chain429.vocabulary import ChainKind

Api = Literal["openai", "anthropic"]


@dataclass(frozen=True, slots=True)
class Operation:
    name: OperationName  # as presets list what a provider serves
    path: str  # under the provider's base URL
    check: Callable[[dict[str, Any]], None]  # raises ProxyError for a body it cannot send
    answer_field: str  # a success answer is a JSON object holding this list
    streams: bool  # whether `stream: true` gives server-sent events (in the API's own format)
    # Which kind of chain serves it; and whether it generates tokens (embeddings count input
    # only, so no completion budget is reserved for them).
    kind: ChainKind = ChainKind.CHAT
    generates: bool = True
    api: Api = "openai"  # whose bodies, answers, errors and event streams these are

    def accepts(self, data: object) -> bool:
        """Whether a decoded upstream answer is a valid success of this operation."""
        if not isinstance(data, dict) or not isinstance(data.get(self.answer_field), list):
            return False
        return self.api == "openai" or data.get("type") == "message"

    def usage(self, answer: dict[str, Any]) -> dict[str, Any] | None:
        """A successful answer's token usage, in OpenAI's shape whatever the API."""
        usage = answer.get("usage")
        if self.api == "anthropic":
            return chat_usage(usage)
        return usage if isinstance(usage, dict) else None


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


def _check_messages(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ProxyError(
            400, "'messages' is required and must be a non-empty array.", param="messages"
        )
    budget = body.get("max_tokens")
    if type(budget) is not int or budget < 1:
        raise ProxyError(400, "'max_tokens' is required: a positive integer.", param="max_tokens")


# The Anthropic Messages API, for entries that speak it natively: the answer is a Message
# (`type: "message"`, a `content` list); a stream is Anthropic's events (`engine/messages_relay`).
MESSAGES = Operation("messages", "/messages", _check_messages, "content", True, api="anthropic")
