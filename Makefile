# ggnbench: every command a user or CI runs. `make help` lists them.
# VENV may point elsewhere (CI keeps one per lock file in a cache folder).
PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
CONFIG ?= config/config.yaml
LOCK := envs/requirements.lock
STAMP := $(VENV)/.ggnbench-$(shell sha256sum $(LOCK) | cut -c1-16)
BIN := $(VENV)/bin

.PHONY: help setup run study dryrun test lint docs bench report clean-results measure-step measure-epoch measure-epoch-check measure-overhead measure-backends cuda-check example paper-check paper-fmnist

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# The stamp's name holds the lock file's hash: a changed lock makes a new environment, a
# fresh clone (a newer lock file, same content) reuses the one it has.
$(STAMP):
	@echo "ggnbench: installing the locked environment into $(VENV): $$(cat envs/venv-size.txt) on disk when done, mostly PyTorch (measured by envs/lock.sh); several minutes"
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r $(LOCK)
	touch $(STAMP)
	@echo "ggnbench: environment ready ($$(du -sh $(VENV) | cut -f1) in $(VENV))"

setup: $(STAMP)  ## create the locked environment and install ggnbench into it
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .

# A study: check its config, run every job that can run, and end with its results and the
# path of its HTML report (the workflow writes it); if a job failed, the report of what ran.
define study
	$(BIN)/ggnbench check-config $(1)
	$(BIN)/snakemake all --cores $(CORES) --keep-going --configfile $(1) || \
		{ $(BIN)/ggnbench report --configfile $(1); exit 1; }
endef

run: setup  ## the offline quick study (config/quick.yaml): tables, figures, results/report.html
	$(call study,config/quick.yaml)

study: setup  ## the full paper study (config/config.yaml; downloads data)
	$(call study,config/config.yaml)

example: export PYTHONPATH := $(CURDIR)/examples$(if $(PYTHONPATH),:$(PYTHONPATH))
example: setup  ## your own optimizer beside the built-ins (examples/config.yaml), offline, and its report
	$(call study,examples/config.yaml)

paper-check: setup  ## the Fashion-MNIST panel on real data, cut to fit 2 CPU cores: paper_epochs table, figure, report
	$(call study,config/paper-check.yaml)

paper-fmnist: setup  ## the paper's whole Fashion-MNIST panel on real data (config/fmnist.yaml; days on a CPU)
	$(call study,config/fmnist.yaml)

report: setup  ## the HTML report of what has run, whatever is missing (CONFIG=config/quick.yaml for the quick study)
	$(BIN)/ggnbench report --configfile $(CONFIG)

dryrun: setup  ## show the jobs of the full study without running them
	$(BIN)/snakemake -n --quiet rules

lint: setup  ## ruff and snakemake's linter
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakemake --lint

docs: setup  ## build the documentation site strictly (a warning fails) into site/
	$(BIN)/mkdocs build --strict --site-dir site

test: setup lint docs  ## lint, the docs, then the test suite (offline; CUDA tests skip without a GPU)
	$(BIN)/python -m pytest -q

measure-step: setup  ## time per training step of each optimizer (mnist_cnn, synthetic data)
	$(BIN)/python bench/train_step_times.py --problem mnist_cnn --steps 30 --repeats 3 --threads 1

measure-epoch: setup  ## end-to-end cost per epoch, run, panel and study of CONFIG (e.g. CONFIG=config/fmnist.yaml)
	$(BIN)/ggnbench check-config $(CONFIG)
	$(BIN)/snakemake epoch_bench --cores $(CORES) --configfile $(CONFIG)

measure-epoch-check: setup  ## the end-to-end targets: whole epochs of mnist_logreg and fmnist_2c2d, before vs now (~15 min)
	test -e results/epoch-check/data/MNIST/raw/train-images-idx3-ubyte || \
		$(BIN)/ggnbench synth-mnist --data-root results/epoch-check/data
	$(BIN)/ggnbench check-config config/epoch-check.yaml
	$(BIN)/snakemake epoch_bench --cores 1 --configfile config/epoch-check.yaml

measure-overhead: setup  ## the workflow's scheduling overhead on the quick study
	$(BIN)/python bench/workflow_overhead.py --configfile config/quick.yaml --cores $(CORES)

measure-backends: setup  ## DiagGGN native vs BackPACK backend: final accuracy on the quick study
	$(BIN)/python bench/backend_accuracy.py --config config/quick.yaml

cuda-check: setup  ## on a GPU machine: the CUDA tests and the CUDA benchmark of both GGN backends
	bench/cuda_check.sh results/cuda $(BIN)/python

clean-results:  ## delete everything under results/ but its README
	find results -mindepth 1 ! -name README.md -delete
