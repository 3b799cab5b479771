VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench fuzz lint schema clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/creditmeter migrate
	$(BIN)/creditmeter seed
	$(BIN)/creditmeter serve --host 127.0.0.1 --port 8000

test: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m bench.record_usage --db postgres
	$(BIN)/python -m bench.record_usage --db sqlite
	$(BIN)/python -m bench.record_usage --db postgres --api-only
	$(BIN)/python -m bench.record_usage --db postgres --batch 100 --connections 4
	for db in sqlite postgres; do for rows in 100000 1000000; do \
		$(BIN)/python -m bench.reports --db $$db --rows $$rows || exit 1; done; done

fuzz: $(STAMP)
	CREDITMETER_FUZZ_EXAMPLES=$${EXAMPLES:-300} $(BIN)/pytest -q tests/e2e/test_fuzz.py
	CREDITMETER_FUZZ_EXAMPLES=$${EXAMPLES:-300} CREDITMETER_FUZZ_DB=postgres $(BIN)/pytest -q tests/e2e/test_fuzz.py

lint: $(STAMP)
	$(BIN)/ruff check domain persistence api tests bench
	$(BIN)/mypy

schema: $(STAMP)
	$(BIN)/creditmeter export-schema > schema.graphql

clean:
	rm -rf $(VENV) creditmeter.db
