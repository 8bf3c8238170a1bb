# spikestream: two commands on a fresh machine (see README):
#   make run    sets everything up, then runs the main job (microphone, or the shipped recording)
#   make test   sets everything up, then runs the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready

.PHONY: run test test-slow lint bench setup clean

setup: $(READY)

$(READY): pyproject.toml
	bash .ci/setup
	touch $(READY)

run: $(READY)
	$(BIN)/spikestream

test: $(READY)
	$(BIN)/python -m pytest -m "not slow" --durations=15

test-slow: $(READY)
	$(BIN)/python -m pytest -m slow

lint: $(READY)
	$(BIN)/ruff check pipeline sources models tests bench recordings
	$(BIN)/ruff format --check pipeline sources models tests bench recordings

bench: $(READY)  # every benchmark that needs no training; the training ones are run by name (README)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) out
