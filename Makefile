# The two commands of the quick start, plus the checks CI runs before the tests.
# uv from PATH; else a private copy in .tools/ (git-ignored): pip may not install into a
# system Python (Debian's "externally-managed-environment"), but it may into a venv.
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
# Flags for the CLI: make run ARGS="-p 8080"
ARGS ?=

.PHONY: run demo test check bench bench-day setup dist container-test

setup: $(filter .tools/bin/uv,$(UV))
	@$(UV) sync --frozen --quiet

.tools/bin/uv:
	@python3 -m venv .tools || { echo "make: cannot create a venv; install python3-venv (Debian/Ubuntu) or uv (https://docs.astral.sh/uv/)" >&2; exit 1; }
	@.tools/bin/python -m pip install --quiet uv

# Provider key variables: the ones the example config reads (`api_key: ${GROQ_API_KEY}`, ...).
KEY_VARS := $(shell sed -n 's/^ *api_key: *\$${\([A-Z0-9_]*\)}.*/\1/p' src/chain429/config/example.yaml)
CONFIG_FILE = $${CHAIN429_CONFIG:-config/config.yaml}

# The demo when there is nothing real to serve (no config, no provider key, no -c in ARGS);
# otherwise the real config, written from the example on the first run.
run: setup
	@if [ ! -e "$(CONFIG_FILE)" ] && [ -z "$(strip $(foreach v,$(KEY_VARS),$($(v))))" ] \
	  && ! echo " $(ARGS) " | grep -qE ' (-c|--config)'; then \
	  echo "make run: no $(CONFIG_FILE) and no provider key set, running the demo (simulated providers). For real ones, export GROQ_API_KEY=... (or another key, see README.md) and make run again." >&2; \
	  exec $(UV) run 429chain demo $(ARGS); \
	fi; \
	exec $(UV) run 429chain $(ARGS)

demo: setup
	$(UV) run 429chain demo $(ARGS)

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

# sdist + wheel in dist/ (they carry the web UI when web/ was built first).
dist: setup
	$(UV) build

# The Docker image, built and run with podman (root; see README "Proven with podman").
container-test: setup
	scripts/container-test
