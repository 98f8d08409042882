# The two commands of the quick start, plus the checks CI runs before the tests.
# uv from PATH; else a private copy in .tools/ (git-ignored): pip may not install into a
# system Python (Debian's "externally-managed-environment"), but it may into a venv.
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
# Flags for the CLI: make run ARGS="-p 8080"
ARGS ?=

.PHONY: run test check bench bench-day setup

setup: $(filter .tools/bin/uv,$(UV))
	@$(UV) sync --frozen --quiet

.tools/bin/uv:
	@python3 -m venv .tools || { echo "make: cannot create a venv; install python3-venv (Debian/Ubuntu) or uv (https://docs.astral.sh/uv/)" >&2; exit 1; }
	@.tools/bin/python -m pip install --quiet uv

run: setup
	$(UV) run 429chain $(ARGS)

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
