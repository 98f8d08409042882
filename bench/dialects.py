"""What translation costs: the same upstream stream through `/v1/chat/completions`,
`/v1/messages` (Anthropic) and `/v1/responses` (OpenAI Responses), in one run, on one proxy.

Each endpoint gets the same request (as far as its API can say it) and the mock sends the same
stream of N content chunks, a usage chunk and `[DONE]`. For each endpoint: p50 at
concurrency 1 (one whole stream per request), streams/s at concurrency C, and the proxy's
CPU µs per stream. `+p50` and `+CPU` are against chat in this run; `+CPU/chunk` spreads the
extra CPU over the upstream events (N + 2), which is what the translation works on.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from bench.procs import cpu_seconds
from bench.wrk import WrkResult

_PROMPT = "Say hello in one short sentence."
BODIES: dict[str, tuple[str, bytes]] = {
    "chat": (
        "/v1/chat/completions",
        orjson.dumps(
            {
                "model": "default",
                "messages": [{"role": "user", "content": _PROMPT}],
                "max_tokens": 32,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        ),
    ),
    "messages": (
        "/v1/messages",
        orjson.dumps(
            {
                "model": "default",
                "messages": [{"role": "user", "content": _PROMPT}],
                "max_tokens": 32,
                "stream": True,
            }
        ),
    ),
    "responses": (
        "/v1/responses",
        orjson.dumps(
            {
                "model": "default",
                "input": _PROMPT,
                "max_output_tokens": 32,
                "stream": True,
                "store": False,
            }
        ),
    ),
}
# The last event of a whole, successful stream in each API.
_LAST_EVENT = {
    "chat": "data: [DONE]",
    "messages": "message_stop",
    "responses": "response.completed",
}

Load = Callable[[str, bytes, int, int], WrkResult]  # (url, body, connections, seconds)


@dataclass(frozen=True, slots=True)
class EndpointRun:
    p50_ms: float
    streams_per_s: float
    cpu_us: float | None  # the proxy's CPU per stream, under concurrency C

    def as_dict(self) -> dict[str, Any]:
        cpu = round(self.cpu_us, 1) if self.cpu_us is not None else None
        return {
            "p50_ms": round(self.p50_ms, 3),
            "streams_per_s": round(self.streams_per_s, 1),
            "cpu_us_per_stream": cpu,
        }


def check(port: int, key: str) -> None:
    """Each endpoint must stream a whole answer before any load is sent."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    for name, (path, body) in BODIES.items():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            text = response.read().decode()
        finally:
            conn.close()
        if response.status != 200 or _LAST_EVENT[name] not in text:
            raise RuntimeError(f"{name}: bad stream ({response.status}): {text[-300:]!r}")


def measure(
    port: int, pid: int, load: Load, *, concurrency: int, seconds: int, warmup: int
) -> dict[str, EndpointRun]:
    runs = {}
    for name, (path, body) in BODIES.items():
        url = f"http://127.0.0.1:{port}{path}"
        if warmup:
            load(url, body, concurrency, warmup)
        latency = load(url, body, 1, seconds)
        before = cpu_seconds(pid)
        rate = load(url, body, concurrency, seconds)
        cpu = cpu_seconds(pid) - before
        per_stream = cpu / rate.requests * 1e6 if rate.requests else None
        runs[name] = EndpointRun(latency.p50_ms, rate.rps, per_stream)
    return runs


def results(runs: dict[str, EndpointRun], chunks: int) -> dict[str, Any]:
    chat = runs["chat"]
    events = chunks + 2  # content chunks, the usage chunk, [DONE]
    out: dict[str, Any] = {"events_per_stream": events, "endpoints": {}}
    for name, run in runs.items():
        figures = run.as_dict()
        figures["added_p50_ms"] = round(run.p50_ms - chat.p50_ms, 3)
        figures["streams_ratio"] = (
            round(run.streams_per_s / chat.streams_per_s, 3) if chat.streams_per_s else None
        )
        if run.cpu_us is not None and chat.cpu_us is not None:
            figures["added_cpu_us_per_stream"] = round(run.cpu_us - chat.cpu_us, 1)
            figures["added_cpu_us_per_event"] = round((run.cpu_us - chat.cpu_us) / events, 2)
        out["endpoints"][name] = figures
    return out


def render(figures: dict[str, Any]) -> list[str]:
    events = figures["events_per_stream"]
    lines = [
        "",
        f"Translation, same stream ({events} upstream events) on 429chain, against chat:",
        f"  {'endpoint':<10} {'p50 c=1':>9} {'+p50':>8} {'streams/s':>10} {'÷ chat':>7}"
        f" {'CPU µs':>8} {'+CPU µs':>8} {'+µs/event':>10}",
    ]
    for name, f in figures["endpoints"].items():
        lines.append(
            f"  {name:<10} {f['p50_ms']:>7.3f}ms {f['added_p50_ms']:>+6.3f}ms"
            f" {f['streams_per_s']:>10.0f} {_num(f['streams_ratio'], '.2f'):>6}×"
            f" {_num(f['cpu_us_per_stream'], '.0f'):>8}"
            f" {_num(f.get('added_cpu_us_per_stream'), '+.0f'):>8}"
            f" {_num(f.get('added_cpu_us_per_event'), '+.2f'):>10}"
        )
    return lines


def _num(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)
