"""The exact-match response cache: canonical keys, the store interface, stream replay.

Framework-free: `key` decides whether a request may be cached and under which key, `store`
holds answers (an LRU in memory; a shared store implements the same `CacheStore`), `replay`
turns a stream into an answer and an answer back into a stream. The HTTP layer
(`http/cached.py`) reads the client's Cache-Control and wires these into a request.
"""
