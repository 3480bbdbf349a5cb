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
test: venv system-deps
	@# Debian's chromium for tests/e2e (installed when root and missing; they fail under CI=true without it).
	bash scripts/system-deps.sh chromium || echo "chromium unavailable: tests/e2e will say why"
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

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
