# 银龄助手 — the two commands are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

RASA_PY := .venv-rasa/bin/python
APP_PY  := .venv/bin/python
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export OMP_NUM_THREADS ?= 1
export OMP_WAIT_POLICY := PASSIVE
export HF_HUB_OFFLINE := 1
export PYTHONPATH := $(CURDIR)

.PHONY: help setup train run run-cluster chat test test-property lint kb-eval bench bench-quick fuzz clean

help:
	@echo "make run    set up if needed, train if data/config changed, start both servers (Ctrl-C stops)"
	@echo "make run-cluster  nginx, 2 Rasa replicas, 2 action servers on PostgreSQL and Redis (loopback; Ctrl-C stops)"
	@echo "make chat   chat in the terminal with the running server"
	@echo "make test   set up if needed, lint, and run every test of both runtimes"
	@echo "make test-property  only the property tests, SEEDS=50 rounds with new random seeds"
	@echo "make lint   ruff, and mypy under both runtimes"
	@echo "make kb-eval  retrieval evaluation on the built-in held-out set"
	@echo "make bench  NLU, retrieval and end-to-end benchmarks (≤ 60 min) → bench/results/latest.md"
	@echo "make bench-quick  retrieval and end-to-end parts only (≤ 10 min)"
	@echo "make fuzz   generated inputs to every webhook and admin route (10 min budget) → bench/results/fuzz/latest.md"

setup:
	@bash scripts/setup.sh

train: setup
	@$(RASA_PY) -m bot.tools.train

run: setup
	@$(APP_PY) scripts/stack.py run

# PostgreSQL and Redis must be running (YINLING_CLUSTER_PG, YINLING_CLUSTER_REDIS; defaults on 127.0.0.1).
run-cluster: setup
	@$(APP_PY) scripts/cluster.py run

chat:
	@$(APP_PY) scripts/chat.py

test: lint
	@$(RASA_PY) -m pytest tests/rasa
	@$(APP_PY) -m pytest tests/app

# Property tests only, each round with a new random seed (make test runs them derandomized).
SEEDS ?= 50
test-property: setup
	@for i in $$(seq 1 $(SEEDS)); do \
		seed=$$(od -An -N4 -tu4 /dev/urandom | tr -d ' '); echo "test-property: round $$i, seed $$seed"; \
		HYPOTHESIS_PROFILE=random $(RASA_PY) -m pytest -q -p no:cacheprovider -m property --hypothesis-seed=$$seed tests/rasa || exit 1; \
		HYPOTHESIS_PROFILE=random $(APP_PY) -m pytest -q -p no:cacheprovider -m property --hypothesis-seed=$$seed tests/app || exit 1; \
	done

# mypy twice: the app runtime (pyproject.toml) and the Rasa runtime (mypy-rasa.ini, Python 3.10, its
# libraries read from .venv-rasa, their stubs from .venv/rasa-types).
lint: setup
	@$(APP_PY) -m ruff check .
	@$(APP_PY) -m ruff format --check .
	@$(APP_PY) -m mypy
	@PYTHONPATH=$(CURDIR)/.venv/rasa-types $(APP_PY) -m mypy --config-file mypy-rasa.ini

kb-eval: setup
	@$(APP_PY) -m knowledge_base eval

# SMP2017 and xSID for the NLU part: the folder holding smp2017/ and xsid_zh/.
EVAL_DATA ?= ../shared/eval

bench: train
	@$(APP_PY) -m bench.run --eval-data "$(EVAL_DATA)"

bench-quick: train
	@$(APP_PY) -m bench.run --quick

# Inputs per route, the in-process time budget in seconds (0: none), inputs per route over real HTTP.
FUZZ_INPUTS ?= 100000
FUZZ_BUDGET ?= 480
FUZZ_LIVE ?= 300
FUZZ_SEED ?= 0

fuzz: setup
	@$(APP_PY) -m fuzz --inputs $(FUZZ_INPUTS) --budget $(FUZZ_BUDGET) --live $(FUZZ_LIVE) --seed $(FUZZ_SEED)

clean:
	rm -rf models var .pytest_cache .mypy_cache .ruff_cache
