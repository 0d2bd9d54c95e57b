.PHONY: help install serve demo test test-fast lint format bench bench-smoke bench-writes

help:  ## list the targets
	@grep -E "^[a-z-]+:.*## " $(MAKEFILE_LIST) | awk -F ":.*## " '{printf "  %-12s %s\n", $$1, $$2}'

install:  ## install with the test extras
	pip install -e ".[test]"

serve:  ## run the service with demo data on ./caselog.db
	caselog serve --demo

test:  ## the whole suite, as .ci/run does (SQLite and PostgreSQL)
	python -m pytest -n 2 --dist loadscope

test-fast:  ## unit and integration tests only
	python -m pytest tests/unit tests/integration -q

lint:  ## ruff check, format check and strict mypy (the packages pyproject [tool.mypy] lists)
	ruff check . && ruff format --check . && python -m mypy

format:  ## ruff format and autofix
	ruff format . && ruff check --fix .

bench:  ## large-scale figures on PostgreSQL (about 15 minutes)
	python -m bench --scale large --json bench-large.json

bench-smoke:  ## the smallest bench run
	python -m bench --scale smoke --write-seconds 2

bench-writes:  ## HTTP writes with 1, 2 and 4 serving processes beside the raw baseline (wrk)
	command -v wrk >/dev/null || apt-get install -y wrk
	python -m bench.writes --workers 1,2,4 --json bench-writes.json
