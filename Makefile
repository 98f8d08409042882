# The two commands of the quick start, plus the checks CI runs before the tests.
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: run test check bench bench-day setup

setup:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --frozen --quiet

run: setup
	$(UV) run 429chain

test: setup
	$(UV) run pytest -q

check: setup
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy

bench: setup
	$(UV) run python -m bench

bench-day: setup
	$(UV) run python -m bench.free_tier_day
