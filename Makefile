# The two commands of the README: `make dev` and `make test`. Both set up everything they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dev test test-long bench migrate openapi template-check venv system-deps clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

system-deps:
	bash scripts/system-deps.sh

## make test: throwaway Postgres (pg_cron) and Redis on free ports, then pytest; they stop at the end.
## The whole suite runs once with the functions on Postgres and one Redis directly; then the store
## suites run again as users deploy: through PgBouncer in transaction mode (Supabase's pooler) and on
## a 3-primary Redis Cluster (REDIS_CLUSTER=true). See tests/conftest.py for --postgres / --redis.
STORE_SUITES := tests/test_draft_sessions.py tests/test_cleanup_drafts.py tests/test_monitoring_health.py \
	tests/test_purge_course.py tests/test_purge_queue.py tests/test_orphans_sweep.py
test: venv system-deps
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
dev: venv system-deps
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
	rm -rf $(VENV) .pytest_cache
