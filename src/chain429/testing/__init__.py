"""Test doubles shared by the tests, the benchmarks and the demo: a scripted mock provider.

Anthropic Messages bodies (for its native `/v1/messages`) are built by `testing.anthropic`.
"""

from chain429.testing.budget import Budget
from chain429.testing.dialects import Dialect, go_duration
from chain429.testing.mock_provider import MockProvider, RecordedRequest
from chain429.testing.responses import chunk, completion, error_body, usage_chunk
from chain429.testing.steps import Drop, Handler, Hang, Pause, Reply, Step, Stream

__all__ = [
    "Budget",
    "Dialect",
    "Drop",
    "Handler",
    "Hang",
    "MockProvider",
    "Pause",
    "RecordedRequest",
    "Reply",
    "Step",
    "Stream",
    "chunk",
    "completion",
    "error_body",
    "go_duration",
    "usage_chunk",
]
