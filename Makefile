# The two commands a newcomer needs: `make demo` and `make test`. Both build .venv/ on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := bcx_tracker/data/sample.jsonl.gz

.PHONY: demo test lint format bench sample vendor config-docs clean

$(BIN)/bcx: setup.py bcx/_tick_codec.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test,embedded]'
	touch $(BIN)/bcx

demo: $(BIN)/bcx
	$(BIN)/bcx up --replay $(SAMPLE)

test: lint
	$(BIN)/python -m pytest

lint: $(BIN)/bcx
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/bcx
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

sample: $(BIN)/bcx
	$(BIN)/python -m bcx_tracker.sample --out $(SAMPLE)

config-docs: $(BIN)/bcx
	$(BIN)/python -m bcx.config_docs

vendor:
	bash bcx_web/vendor.sh

bench: $(BIN)/bcx
	$(BIN)/python -m bench.memory
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.watcher
	$(BIN)/python -m bench.query
	$(BIN)/python -m bench.api_load
	$(BIN)/python -m bench.latency
	$(BIN)/python -m bench.analytics

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
