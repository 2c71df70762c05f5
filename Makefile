# The verbs a person types. `make run` and `make test` work on a fresh machine: they create .venv.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# make run, train and serve need only these extras; dev and infra, which make test and the rest
# add on top, took ~40 % of the full install's time on a fresh 2-vCPU clone (84 of 212 s).
RUN_STAMP := $(VENV)/.installed-run
MODEL_URI ?= artifacts/models
PORT ?= 8000

include mk/infra.mk
include mk/image.mk

.PHONY: help setup run train serve test lint format bench bench-training bench-serving synth clean

help:
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(RUN_STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[serving,training]'
	touch $@

$(STAMP): $(RUN_STAMP)
	$(BIN)/pip install -q -e '.[serving,training,dev,infra,bench]'
	touch $@

# Debian's headless chromium and chromedriver for tests/browser (installed as root when missing;
# the tests skip loudly without them, and fail under CI=true).
TEST_DEPS += chromium
.PHONY: chromium
chromium:
	tests/browser/chromium.sh

setup: $(STAMP) ## create .venv and install everything

run: $(RUN_STAMP) ## quick fine-tune (time-budgeted) -> export ONNX (int8, fp32 if int8 fails the gate) -> serve
	$(BIN)/python -m training --profile quick --output $(MODEL_URI) --overwrite
	$(MAKE) --no-print-directory serve MODEL_URI=$(MODEL_URI)

train: $(RUN_STAMP) ## the full recipe (3 epochs, lr 2e-5, batch 16); pass ARGS="..." for more flags
	$(BIN)/python -m training --output $(MODEL_URI) $(ARGS)

serve: $(RUN_STAMP) ## serve MODEL_URI (bundle dir, runs root or s3:// URI) on 127.0.0.1:$(PORT)
	MODEL_URI=$(MODEL_URI) PORT=$(PORT) $(BIN)/python -m function.local

test: $(STAMP) $(TEST_DEPS) ## the default test suite (CPU, offline)
	$(BIN)/python -m pytest -q

lint: $(STAMP) ## ruff lint + format check, mypy over contract/ function/ training/ infra/
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

bench: bench-training bench-serving ## every benchmark; summaries in bench/results/

bench-training: $(STAMP) ## training throughput vs the naive recipe, and the quick profile
	$(BIN)/python -m bench.training $(ARGS)

bench-serving: $(STAMP) ## ONNX serving vs the transformers pipeline (each bench-*: ARGS="--smoke --output <tmp file>" runs it in seconds, recording nothing)
	$(BIN)/python -m bench.serving $(ARGS)

.PHONY: bench-explain
bench-explain: $(STAMP) ## evidence: faithfulness and cost vs shap, occlusion, random (trains a quick bundle when MODEL_URI has none)
	test -e $(MODEL_URI)/latest.json -o -e $(MODEL_URI)/manifest.json || \
		$(BIN)/python -m training --profile quick --output $(MODEL_URI)
	$(BIN)/python -m bench.explain --model_uri $(MODEL_URI) $(ARGS)

.PHONY: bench-precision
bench-precision: $(STAMP) ## int8 vs the fp32 graph it is quantized from, on this CPU kind (MODEL_URI's hf/); bench/results/precision.json
	$(BIN)/python -m bench.precision --model_uri $(MODEL_URI) $(ARGS)

.PHONY: bench-lambda
bench-lambda: $(STAMP) ## init and warm invokes under the Lambda runtime emulator (Python 3.12, S3 on loopback)
	$(BIN)/python -m bench.lambda_runtime $(ARGS)

.PHONY: bench-batch
bench-batch: $(STAMP) ## rows/s of one batch-scoring worker (the score step, S3 on loopback)
	$(BIN)/python -m bench.batch $(ARGS)

.PHONY: bench-audit
bench-audit: $(STAMP) ## labelled files through bulk scoring, judged against the held-out split, beside the naive check (MODEL_URI); bench/results/audit.json
	$(BIN)/python -m bench.audit --model_uri $(MODEL_URI) $(ARGS)

.PHONY: bench-markup
bench-markup: $(STAMP) ## a review as HTML and as plain text: flips, accuracy, tokens, beside a --markup keep bundle (MODEL_URI; ARGS="--peer_uri <bundle>"); bench/results/markup.json
	$(BIN)/python -m bench.markup --model_uri $(MODEL_URI) $(ARGS)

.PHONY: bench-neighbours
bench-neighbours: $(STAMP) ## does a text's score or evidence depend on the rest of its request? ours (no shared runs) vs packed runs (MODEL_URI); bench/results/neighbours.json
	$(BIN)/python -m bench.neighbours --model_uri $(MODEL_URI) $(ARGS)

.PHONY: bench-monitoring
bench-monitoring: $(STAMP) ## drift, shadow and the metrics' cost on loopback (the make-run bundle); bench/results/monitoring.json
	$(BIN)/python -m bench.monitoring $(ARGS)

bench-run: $(STAMP) ## a fresh clone's make run until /health, timed (ARGS="--runs 3"); not a test
	$(BIN)/python -m bench.run $(ARGS)

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .cache runs artifacts cdk.out node_modules .pytest_cache .ruff_cache .mypy_cache
