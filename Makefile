# wijkbrug: two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export WIJKBRUG_KAFKA_PORT ?= 9092

.PHONY: install demo test test-unit lint kafka kafka-stop kafka-fetch clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,airflow]'
	touch $@

kafka-fetch:
	bash scripts/kafka.sh fetch

kafka: install
	bash scripts/kafka.sh start

kafka-stop:
	bash scripts/kafka.sh stop

demo: install kafka
	bash scripts/demo.sh

test: install kafka-fetch
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

test-unit: install
	$(BIN)/python -m pytest tests/unit tests/contract

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean: kafka-stop
	rm -rf $(VENV) .cache .pytest_cache
