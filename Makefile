# The two commands of the quick start, plus the checks CI runs before the tests.
# uv from PATH; else a private copy in .tools/ (git-ignored): pip may not install into a
# system Python (Debian's "externally-managed-environment"), but it may into a venv.
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
# Flags for the CLI: make run ARGS="-p 8080"
ARGS ?=

.PHONY: run demo test check bench bench-day setup dist container-test ui web-check types check-types

# The web UI (web/, React + Vite) builds into the package: src/chain429/web/dist.
UI_DIST := src/chain429/web/dist/index.html
UI_SRC := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/package.json \
	web/vite.config.ts web/tsconfig.json web/postcss.config.cjs web/scripts/size.mjs
UI_DEPS := web/node_modules/.package-lock.json

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
run: setup ui
	@if [ ! -e "$(CONFIG_FILE)" ] && [ -z "$(strip $(foreach v,$(KEY_VARS),$($(v))))" ] \
	  && ! echo " $(ARGS) " | grep -qE ' (-c|--config)'; then \
	  echo "make run: no $(CONFIG_FILE) and no provider key set, running the demo (simulated providers). For real ones, export GROQ_API_KEY=... (or another key, see README.md) and make run again." >&2; \
	  exec $(UV) run 429chain demo $(ARGS); \
	fi; \
	exec $(UV) run 429chain $(ARGS)

demo: setup ui
	$(UV) run 429chain demo $(ARGS)

test: setup ui
	$(UV) run pytest -q

# Built when missing or older than its sources. Without npm the proxy still runs (the API
# works, `/` says how to build the UI), so `make run` never fails for want of Node.
ui:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory $(UI_DIST); \
	else echo "make: npm not found, so the web UI is not built (the API works without it)"; fi

$(UI_DEPS): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund

$(UI_DIST): $(UI_DEPS) $(UI_SRC)
	cd web && npm run build

# tsc, eslint and the component tests (Vitest).
web-check: $(UI_DEPS)
	cd web && npm run typecheck && npm run lint && npm test

# The UI's API types, generated from the OpenAPI document (built from the route table).
types: setup $(UI_DEPS)
	@mkdir -p build
	$(UV) run python web/scripts/dump_openapi.py build/openapi.json
	cd web && npx openapi-typescript ../build/openapi.json -o src/api/schema.d.ts

check-types: setup $(UI_DEPS)
	@mkdir -p build
	@$(UV) run python web/scripts/dump_openapi.py build/openapi.json
	@cd web && npx openapi-typescript ../build/openapi.json -o ../build/schema.d.ts >/dev/null
	@diff -q build/schema.d.ts web/src/api/schema.d.ts >/dev/null || { \
		echo "web/src/api/schema.d.ts is stale: run 'make types' and commit it" >&2; exit 1; }
	@echo "web/src/api/schema.d.ts matches the OpenAPI document"

check: setup
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory check-types; \
	else echo "make: npm not found, skipping the UI type check" >&2; fi

bench: setup
	$(UV) run python -m bench

bench-day: setup
	$(UV) run python -m bench.free_tier_day

# sdist + wheel in dist/ (they carry the web UI when web/ was built first).
dist: setup ui
	$(UV) build

# The Docker image, built and run with podman (root; see README "Proven with podman").
container-test: setup
	scripts/container-test
