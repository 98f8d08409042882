"""Shapes of `/v1/messages` (Anthropic Messages) and `/v1/responses` (OpenAI Responses).

They document the fields we translate; the APIs' other fields are accepted (`extra`) and
either translated or ignored, as `dialects.anthropic` and `dialects.responses` say.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from chain429.http.schemas.base import Shape


class MessagesRequest(Shape):
    """An Anthropic Messages API request, served by a chat chain."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(description="A chain name, or `provider/model`; others: the default chain.")
    messages: list[dict[str, Any]] = Field(min_length=1)
    max_tokens: int = Field(ge=1)
    system: str | list[dict[str, Any]] | None = None
    stream: bool = False
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = None
    top_p: float | None = None
    thinking: dict[str, Any] | None = Field(
        None, description="`{type: enabled}`: reasoning text becomes `thinking` blocks."
    )


class Message(Shape):
    """An Anthropic Message, translated from the chat completion that served it."""

    model_config = ConfigDict(extra="allow")
    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[dict[str, Any]]
    stop_reason: str | None
    stop_sequence: str | None
    usage: dict[str, Any]


class CountTokensRequest(Shape):
    """An Anthropic token-count request."""

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[dict[str, Any]] = Field(min_length=1)


class TokenCount(Shape):
    input_tokens: int = Field(description="Estimated as the quota tracker estimates a prompt.")


class AnthropicErrorDetail(Shape):
    type: str
    message: str


class AnthropicError(Shape):
    """Anthropic's error envelope: every error on `/v1/messages`."""

    type: Literal["error"]
    error: AnthropicErrorDetail


class ResponseRequest(Shape):
    """An OpenAI Responses API request (the stateless subset, plus `previous_response_id`)."""

    model_config = ConfigDict(extra="allow")
    model: str | None = Field(None, description="A chain name, or `provider/model`.")
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    previous_response_id: str | None = None
    store: bool = Field(True, description="Keep the answer for `previous_response_id`.")
    stream: bool = False
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None


class Response(Shape):
    """An OpenAI Response object, translated from the chat completion that served it."""

    model_config = ConfigDict(extra="allow")
    id: str
    object: Literal["response"]
    created_at: float
    status: str
    model: str
    output: list[dict[str, Any]]
    usage: dict[str, Any] | None = None


class DeletedResponse(Shape):
    id: str
    object: Literal["response"]
    deleted: bool
