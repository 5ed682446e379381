# The two set-up commands of the README: `make demo` and `make test`. Both bootstrap .venv.
VENV ?= .venv
export SIGNPIPE_VENV := $(VENV)

.PHONY: bootstrap demo test lint bench bench-folds bench-inputs bench-backbones bench-scale lock

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap  ## run the pipeline on generated demo data
	$(VENV)/bin/signpipe run

test: bootstrap  ## lint, then the whole test suite
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@scripts/ensure_chromium.sh
	$(VENV)/bin/python -m pytest -n auto --dist loadscope --no-loadscope-reorder

bench: bootstrap  ## the whole pipeline, TFLite variants included, on ../shared/datasets/asl_massey
	$(VENV)/bin/python benchmarks/run_pipeline.py --out benchmarks/results/pipeline_by_signer.json

bench-folds: bootstrap  ## leave-one-signer-out on asl_massey (5 folds) and spanish_alphabet_2signers (2)
	$(VENV)/bin/python benchmarks/run_pipeline.py --set 'data.folds="loo"' \
		--out benchmarks/results/loso_asl_massey.json
	$(VENV)/bin/python benchmarks/run_pipeline.py --set 'data.folds="loo"' \
		--data-root ../shared/datasets/spanish_alphabet_2signers --group-regex '^(signer[AB])_' \
		--out benchmarks/results/loso_spanish_alphabet_2signers.json

bench-inputs: bootstrap  ## the hand crop, the landmarks and both, on held-out signers of both shared data sets
	$(VENV)/bin/python benchmarks/input_modes.py --out benchmarks/results/inputs_asl_massey_by_signer.json
	$(VENV)/bin/python benchmarks/input_modes.py --set 'data.folds="loo"' \
		--data-root ../shared/datasets/spanish_alphabet_2signers --group-regex '^(signer[AB])_' \
		--out benchmarks/results/inputs_spanish_alphabet_2signers_loso.json

bench-backbones: bootstrap  ## pretrained Lite0 vs random Lite0 vs random B0, split by signer
	$(VENV)/bin/python benchmarks/backbones.py --out benchmarks/results/backbones_by_signer.json

bench-scale: bootstrap  ## every step's time and peak memory at 2,000, 10,000 and 50,000 generated images
	$(VENV)/bin/python benchmarks/scale.py --images 2000 10000 50000 --out benchmarks/results/scale.json

lock:  ## recompile requirements/lock.txt from requirements/requirements.in
	$(VENV)/bin/uv pip compile --python $(VENV)/bin/python requirements/requirements.in -o requirements/lock.txt
