"""The JSON shapes of the HTTP API, as pydantic models: the OpenAPI document is built from them.

They describe; the hot path never validates with them. Stats and admin handlers build their
answer through them (`Shape.reply`), so those answers cannot drift from the document; the
OpenAI routes, /health and /v1/ratelimits build plain dicts, and the tests check those dicts
against these models.
"""
