"""The database schema as SQLAlchemy Core tables; migrations create exactly this."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

requests = Table(
    "requests",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("ts", Float, nullable=False),
    Column("key_label", String(64), nullable=False),
    Column("chain", String(200)),
    Column("requested_model", String(300)),
    Column("provider", String(200)),
    Column("model", String(300)),
    Column("stream", Boolean, nullable=False),
    Column("status", Integer, nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("prompt_tokens", Integer),
    Column("completion_tokens", Integer),
    Column("total_tokens", Integer),
    Column("tokens_estimated", Boolean, nullable=False, default=False),
    Column("latency_ms", Float, nullable=False),
    Column("ttft_ms", Float),
    Column("calls", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("rate_limited", Integer, nullable=False),
    Column("error", Text),
    Column("endpoint", String(64)),  # the route it came in on; NULL for rows before 0003
    Index("ix_requests_ts", "ts"),
    Index("ix_requests_chain_ts", "chain", "ts"),
    Index("ix_requests_provider_ts", "provider", "ts"),
)

attempts = Table(
    "attempts",
    metadata,
    Column(
        "request_id", String(32), ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("seq", Integer, primary_key=True),
    Column("ts", Float, nullable=False),  # the request's time, for pruning and time filters
    Column("provider", String(200), nullable=False),
    Column("model", String(300), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("status", Integer),
    Column("latency_ms", Float, nullable=False),
    Column("reason", Text, nullable=False),
    Column("skipped", Boolean, nullable=False),
    Index("ix_attempts_provider_ts", "provider", "ts"),
)

# Totals per UTC day that outlive the pruning of `requests` (log_retention_days).
daily_rollups = Table(
    "daily_rollups",
    metadata,
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD, UTC
    Column("chain", String(200), primary_key=True),  # "" when none
    Column("provider", String(200), primary_key=True),  # "" when not served
    Column("model", String(300), primary_key=True),
    Column("key_label", String(64), primary_key=True),
    Column("requests", Integer, nullable=False),
    Column("successes", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("fallbacks", Integer, nullable=False),
    Column("rate_limited", Integer, nullable=False),
    # A day's token sums can pass 2**31.
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("total_tokens", BigInteger, nullable=False),
    Column("latency_ms_sum", Float, nullable=False),
)

# Responses API answers kept for `previous_response_id` (and GET /v1/responses/{id}) until
# `expires_at`; readable only with the key label that made them.
responses = Table(
    "responses",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("key_label", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("response", Text, nullable=False),  # the Response object, JSON
    Column("conversation", Text, nullable=False),  # the chat messages so far, JSON
    Index("ix_responses_expires_at", "expires_at"),
)

tracker_state = Table(
    "tracker_state",
    metadata,
    Column("key", String(400), primary_key=True),
    Column("state", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)
