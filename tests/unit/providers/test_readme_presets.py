"""The README's table of provider presets says what `presets.yaml` says: every preset has a
row, and each row's free limits are the preset's."""

from __future__ import annotations

import re
from pathlib import Path

from chain429.providers.presets import Preset, load_presets

README = Path(__file__).parents[3] / "README.md"
UNITS = (
    ("requests_per_minute", "RPM"),
    ("requests_per_hour", "RPH"),
    ("requests_per_day", "RPD"),
    ("tokens_per_minute", "TPM"),
    ("tokens_per_hour", "TPH"),
    ("tokens_per_day", "TPD"),
    ("concurrent_requests", "concurrent"),
)


def limits_text(preset: Preset) -> str:
    figures = [
        f"{value:,} {unit}"
        for field, unit in UNITS
        if (value := getattr(preset.limits, field)) is not None
    ]
    text = ", ".join(figures) or "—"
    return text + "; some models differ" if preset.model_limits else text


def table_rows() -> dict[str, list[str]]:
    section = README.read_text().split("## Provider presets", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        found = re.match(r"\| `([a-z-]+)`", line)
        if found and found.group(1) != "type":  # the header row
            rows[found.group(1)] = [cell.strip() for cell in line.strip("|").split("|")]
    return rows


def test_every_preset_has_a_row_with_its_free_limits() -> None:
    presets, rows = load_presets(), table_rows()
    assert sorted(rows) == sorted(presets)
    for name, preset in presets.items():
        assert rows[name][3] == limits_text(preset), name
