# idinpaint — the two commands a fresh machine needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PROFILE ?= smoke
# the dlib column's evaluator: dlib (dlib-bin, the reference) or dlib_torch (the same ResNet by torch, ~10x faster)
DLIB ?= dlib

.PHONY: setup run test test-fast notebooks benchmark lfw-clean lfw-occluded train-cpu train-gpu clean-results help

help:
	@echo "make run        set up .venv and run the whole workbook (PROFILE=smoke|cpu|paper)"
	@echo "make test       set up .venv and run the whole test suite (what CI runs, slow tests included)"
	@echo "make test-fast  the daily loop: every test not marked slow (under a minute on 2 cores)"
	@echo "                notebooks with nbval: .venv/bin/python -m pytest --nbval-lax notebooks/01_occlusions.ipynb"
	@echo "make lfw-clean  align all of LFW and measure clean verification with SFace and dlib"
	@echo "make lfw-occluded  the full occluded-LFW protocol (10 regions x fills x fillers, SFace and dlib;"
	@echo "                DLIB=dlib_torch computes dlib's ResNet with torch, about 10x faster, same rows as printed)"
	@echo "make train-cpu  train the cpu-profile ID-Inpainter for both LFW halves"
	@echo "make train-gpu  on one CUDA GPU: train recipe_gpu (bf16) for both halves, benchmark, export the pair (+ONNX)"
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

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

lfw-clean: setup
	$(BIN)/idinpaint preprocess --raw $${IDINPAINT_LFW_ROOT:-../shared/data/lfw}/raw --aligned data/lfw-112 --has-subdirs --workers 2
	$(BIN)/idinpaint evaluate lfw --recognizers sface dlib --figures figures

# Resumable: embeddings are cached per condition, so an interrupted run continues where it stopped.
lfw-occluded: setup
	$(BIN)/idinpaint evaluate occluded --recognizers sface --regions all --fills black gray --fillers none telea mean_face donor ca ca_id --figures figures
	$(BIN)/idinpaint evaluate occluded --recognizers $(DLIB) --regions all --fills black gray --fillers none telea mean_face donor ca ca_id --workers 2 --figures figures
	$(BIN)/idinpaint evaluate report lfw_occluded_sface lfw_occluded_$(DLIB) --output-file results/lfw_occluded/report.md

train-cpu: setup
	$(BIN)/idinpaint train --config config/train.yaml --recipe cpu --half A
	$(BIN)/idinpaint train --config config/train.yaml --recipe cpu --half B

# A GPU loan spent training, not setting up (docs/training.md): checks first (CUDA, the aligned crops),
# then both halves of recipe_gpu, the speed benchmark on cuda, and the pair exported with cards + ONNX.
GPU_PROFILE ?= recipe_gpu
GPU_LAST_STAGE ?= fusor_id2
GPU_PAIR    ?= results/train/$(GPU_PROFILE)_pair
train-gpu: setup
	@$(BIN)/python -c "import sys, torch; torch.cuda.is_available() or sys.exit('make train-gpu: no CUDA GPU here (torch.cuda.is_available() is False); it trains $(GPU_PROFILE) on one GPU')"
	@test -d data/lfw-112 || { echo "make train-gpu: data/lfw-112 is missing (run make lfw-clean, or copy the aligned crops)"; exit 1; }
	$(BIN)/idinpaint train --recipe $(GPU_PROFILE) --half A
	$(BIN)/idinpaint train --recipe $(GPU_PROFILE) --half B
	$(BIN)/python benchmarks/bench_method.py --profile $(GPU_PROFILE) --device cuda --steps 40 \
		--checkpoint results/train/$(GPU_PROFILE)_halfA/$(GPU_LAST_STAGE)/inpainter.pt
	$(BIN)/idinpaint export --checkpoint results/train/$(GPU_PROFILE)_halfA/$(GPU_LAST_STAGE)/last.ckpt --onnx \
		--output-file $(GPU_PAIR)/idinpainter_$(GPU_PROFILE)_halfA.pt --runs results/train/$(GPU_PROFILE)_halfA
	$(BIN)/idinpaint export --checkpoint results/train/$(GPU_PROFILE)_halfB/$(GPU_LAST_STAGE)/last.ckpt --onnx \
		--output-file $(GPU_PAIR)/idinpainter_$(GPU_PROFILE)_halfB.pt --runs results/train/$(GPU_PROFILE)_halfB

benchmark: setup
	$(BIN)/python benchmarks/bench_foundation.py
	$(BIN)/python benchmarks/bench_fillers.py
	$(BIN)/python benchmarks/bench_method.py --profile cpu --steps 20 --checkpoint checkpoints/idinpainter_cpu_halfA.pt

clean-results:
	rm -rf results/notebooks
