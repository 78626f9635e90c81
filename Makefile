# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test

.PHONY: demo demo-local test lint bench-startup bench-small bench clean e2e-kind

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The Kubernetes flow on the embedded local cluster: operator, SparkApplication, driver and
# executor pods. `demo-local` runs an ETL job in plain local mode instead.
demo: $(STAMP)
	$(BIN)/python examples/local_cluster_demo.py

demo-local: $(STAMP)
	$(BIN)/python examples/etl_joins.py

test: $(STAMP)
	$(BIN)/python -m pytest tests -q

lint: $(STAMP)
	$(BIN)/ruff check src tests examples benchmarks

bench-startup: $(STAMP)
	$(BIN)/python benchmarks/startup.py

# db-benchmark groupby and join against DuckDB, Polars and, when PYSPARK_PYTHON names a Python
# with pyspark installed, PySpark. Data is generated once into benchmarks/data/.
BENCH_STAMP := $(VENV)/.installed-bench
PYSPARK_PYTHON ?=
BENCH_ARGS = $(if $(PYSPARK_PYTHON),--pyspark-python $(PYSPARK_PYTHON))

$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench-small: $(BENCH_STAMP)
	$(BIN)/python benchmarks/dbbench/run.py --n 1e6 --k 100 $(BENCH_ARGS)

bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/dbbench/run.py --n 1e7 --k 100 $(BENCH_ARGS)

# The round trip on a real cluster (needs docker, kind, kubectl, helm): build the images, load
# them into kind, helm install charts/ember, run manifests/examples and check their end states.
e2e-kind:
	bash scripts/e2e_kind.sh

clean:
	rm -rf $(VENV) build src/*.egg-info
