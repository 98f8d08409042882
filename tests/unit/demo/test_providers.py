"""The demo's simulated providers answer like their presets: latencies, streams, 5xx, stalls."""

from __future__ import annotations

import random
import stat
from pathlib import Path

from chain429.config.load import load_config
from chain429.demo.config import demo_config, new_keys, write_config
from chain429.demo.providers import SIMULATED, Answers, Latency, Simulated
from chain429.testing import Hang, Reply, Stream

CHAT = {"model": "m", "messages": [{"role": "user", "content": "Hello there, model!"}]}


class Rolls(random.Random):
    """random() returns the given rolls first, then seeded values (uniform() uses it too)."""

    def __init__(self, *rolls: float) -> None:
        super().__init__(1)
        self.rolls = list(rolls)

    def random(self) -> float:
        return self.rolls.pop(0) if self.rolls else super().random()


FLAKY = Simulated(
    "flaky", "openai-compatible", "F", "m", "openai", None, Latency((0.2, 0.2), 0.01), 0.2, 0.1
)


def test_flaky_stalls_then_fails_then_answers_by_its_rates() -> None:
    answers = Answers(FLAKY, Rolls(0.05, 0.15, 0.5))
    assert isinstance(answers(CHAT), Hang)  # roll < stall_rate
    failed = answers(CHAT)
    assert isinstance(failed, Reply)
    assert failed.status in (500, 502, 503)
    assert isinstance(answers(CHAT), Reply)


def test_a_stream_comes_token_by_token_with_usage_when_asked() -> None:
    answers = Answers(FLAKY, Rolls(0.9))
    step = answers({**CHAT, "stream": True, "stream_options": {"include_usage": True}})
    assert isinstance(step, Stream)
    assert step.events is not None
    assert step.delay_first == 0.2
    assert step.interval == 0.01
    words = [e["choices"][0]["delta"].get("content") for e in step.events[1:-2]]  # type: ignore[index]
    assert len(words) > 5
    assert all(w.strip() and " " not in w.strip() for w in words)
    assert step.events[-1]["usage"]["completion_tokens"] > 0  # type: ignore[index]


def test_a_plain_answer_waits_first_token_plus_typing_time() -> None:
    step = Answers(FLAKY, Rolls(0.9))(CHAT)
    assert isinstance(step, Reply)
    assert isinstance(step.body, dict)
    tokens = step.body["usage"]["completion_tokens"]
    assert abs(step.delay - (0.2 + tokens * 0.01)) < 1e-9


def test_the_presets_it_imitates() -> None:
    by_id = {spec.id: spec for spec in SIMULATED}
    groq, openrouter = by_id["groq"], by_id["openrouter"]
    assert (groq.type, groq.dialect) == ("groq", "groq")
    assert groq.budget is not None
    assert None not in (groq.budget.rpm, groq.budget.rpd, groq.budget.tpm, groq.budget.tpd)
    assert (openrouter.type, openrouter.dialect) == ("openrouter", "openrouter")
    assert openrouter.budget is not None
    assert openrouter.budget.rpd is not None and openrouter.budget.rpd <= 10
    assert by_id["flaky"].error_rate > 0 and by_id["flaky"].stall_rate > 0
    assert by_id["slow"].latency.first[0] >= 1.0


def test_the_demo_config_loads_with_fresh_keys_and_is_private(tmp_path: Path) -> None:
    urls = {spec.id: f"http://127.0.0.1:{9000 + i}/v1" for i, spec in enumerate(SIMULATED)}
    keys = new_keys()
    assert keys != new_keys()
    path = tmp_path / "demo" / "config.yaml"
    write_config(path, demo_config(SIMULATED, urls, keys, tmp_path, "127.0.0.1", 4000))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_config(path, env={})
    assert loaded.warnings == [] and loaded.disabled_providers == {}
    config = loaded.config
    assert config.settings.api_keys == [keys.proxy]
    assert config.settings.admin_keys == [keys.admin]
    assert config.settings.database_url == str(tmp_path / "429chain.db")
    assert [e.provider for e in config.chains[0].entries] == [s.id for s in SIMULATED]
    assert [p.base_url for p in config.providers] == list(urls.values())
