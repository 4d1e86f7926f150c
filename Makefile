# idinpaint — the two commands a fresh machine needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PROFILE ?= smoke

.PHONY: setup run test notebooks benchmark lfw-clean lfw-occluded train-cpu clean-results help

help:
	@echo "make run        set up .venv and run the whole workbook (PROFILE=smoke|cpu|paper)"
	@echo "make test       set up .venv and run the test suite"
	@echo "make lfw-clean  align all of LFW and measure clean verification with SFace and dlib"
	@echo "make lfw-occluded  the full occluded-LFW protocol (10 regions x fills x fillers, SFace and dlib)"
	@echo "make train-cpu  train the cpu-profile ID-Inpainter for both LFW halves"
	@echo "make benchmark  speed/memory benchmarks -> benchmarks/results/"

$(BIN)/idinpaint: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

setup: $(BIN)/idinpaint

run: setup
	$(BIN)/idinpaint notebooks run --profile $(PROFILE)

test: setup
	$(BIN)/python -m pytest -q

lfw-clean: setup
	$(BIN)/idinpaint preprocess --root $${IDINPAINT_LFW_ROOT:-../shared/data/lfw}/raw --output_dir data/lfw-112 --has_subdirs --workers 2
	$(BIN)/idinpaint evaluate lfw --recognizer sface
	$(BIN)/idinpaint evaluate lfw --recognizer dlib

# Resumable: embeddings are cached per condition, so an interrupted run continues where it stopped.
lfw-occluded: setup
	$(BIN)/idinpaint evaluate occluded --recognizers sface --regions all --fills black gray --fillers none telea mean_face donor ca ca_id
	$(BIN)/idinpaint evaluate occluded --recognizers dlib --regions all --fills black gray --fillers none telea mean_face donor ca ca_id --workers 2
	$(BIN)/idinpaint evaluate report lfw_occluded_sface lfw_occluded_dlib --output results/lfw_occluded/report.md

train-cpu: setup
	$(BIN)/idinpaint train --config config/train.yaml --profile cpu --half A
	$(BIN)/idinpaint train --config config/train.yaml --profile cpu --half B

benchmark: setup
	$(BIN)/python benchmarks/bench_foundation.py
	$(BIN)/python benchmarks/bench_fillers.py
	$(BIN)/python benchmarks/bench_method.py --profile cpu --steps 20 --checkpoint checkpoints/idinpainter_cpu_halfA.pt

clean-results:
	rm -rf results/notebooks
