# The two commands of the README: `make dev` and `make test`. Both set up everything they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dev test test-long bench migrate openapi template-check venv system-deps clean lint \
        node-deps node-build node-check client-types

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

system-deps:
	bash scripts/system-deps.sh

# --- the front-end kit (clients/draft-session, examples/): node packages from the committed lock ---
NODE_STAMP := node_modules/.installed
NODE_MANIFESTS := package.json package-lock.json clients/draft-session/package.json examples/react-create-course/package.json

$(NODE_STAMP): $(NODE_MANIFESTS)
	@command -v npm >/dev/null 2>&1 || bash scripts/system-deps.sh npm
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

node-deps: $(NODE_STAMP)

## make node-build: the package's build (clients/draft-session/dist, which the reference page imports)
## and the React example's bundle (examples/react-create-course/dist); both served by make dev.
node-build: node-deps
	npm run --silent build -w clients/draft-session
	npm run --silent build -w examples/react-create-course

## make node-check: client types against docs/openapi.json, tsc of the client (its build) and tsc --noEmit
## of the example, the client's unit tests (node's test runner, fake timers), what npm pack would ship.
node-check: node-build
	npm run --silent check-types -w clients/draft-session
	npm run --silent typecheck -w examples/react-create-course
	npm test --silent -w clients/draft-session
	npm run --silent check-pack -w clients/draft-session

## make client-types: regenerate the client's types after `make openapi` (node-check fails while they are stale).
client-types: node-deps
	npm run --silent gen-types -w clients/draft-session

## make test: throwaway Postgres (pg_cron) and Redis on free ports, then pytest; they stop at the end.
## The whole suite runs once with the functions on Postgres and one Redis directly; then the store
## suites run again as users deploy: through PgBouncer in transaction mode (Supabase's pooler) and on
## a 3-primary Redis Cluster (REDIS_CLUSTER=true). See tests/conftest.py for --postgres / --redis.
STORE_SUITES := tests/test_draft_sessions.py tests/test_cleanup_drafts.py tests/test_monitoring_health.py \
	tests/test_purge_course.py tests/test_purge_queue.py tests/test_orphans_sweep.py \
	tests/test_draft_races.py tests/test_draft_idempotency.py tests/test_purge_races.py tests/test_metrics.py
## make lint: ruff over the tree, mypy strict over functions/ (pyproject.toml); part of make test.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

test: venv system-deps lint node-check
	@# Debian's chromium for tests/e2e (installed when root and missing; they fail under CI=true without it).
	bash scripts/system-deps.sh chromium || echo "chromium unavailable: tests/e2e will say why"
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)
	$(BIN)/python -m pytest -q --postgres=pooled --redis=cluster $(STORE_SUITES) $(PYTEST_ARGS)

## make test-long: the long runs of tests/long (60-second load of 200 users, fault soaks), each bounded
## in count and time, loopback only; their figures go to test-output/reliability-figures.json.
test-long: venv system-deps
	$(BIN)/python -m pytest -q tests/long $(PYTEST_ARGS)

## make bench: the benchmark suite (bench/) against throwaway servers; writes docs/BENCHMARKS.md (not part
## of make test; about 10 minutes). BENCH_ARGS passes options, e.g. BENCH_ARGS="--rows sessions,coldstart".
bench: venv system-deps
	BENCH_COMMAND="make bench$(if $(BENCH_ARGS), BENCH_ARGS='$(BENCH_ARGS)')" $(BIN)/python -m bench $(BENCH_ARGS)

## make dev: all three functions on DEV_HOST:DEV_PORT over embedded stores in .data/ (or DATABASE_URL/REDIS_URL).
dev: venv system-deps node-build
	$(BIN)/python -m devtools.devserver

## make migrate: apply sql/migrations to DATABASE_URL (production-safe; never the stand-in baseline).
migrate: venv
	$(BIN)/python -m devtools.migrate

## make openapi: regenerate docs/openapi.json from the handlers' routes and models (a test fails when it is stale).
openapi: venv
	$(BIN)/python -m devtools.openapi

## make template-check: template.yaml through SAM's transform, then cfn-lint (also part of make test).
template-check: venv
	$(BIN)/python -m devtools.template_check

clean:
	rm -rf $(VENV) .pytest_cache node_modules clients/draft-session/dist examples/react-create-course/dist
