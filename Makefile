# Two commands do everything on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export DVC_NO_ANALYTICS := 1

.PHONY: help setup setup-lemmatise setup-services run serve ui test test-fast lint format params-doc dvc-deps bench lock clean
.PHONY: retrain remote pull rescrape repro push push-journal gate-summary

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet --no-deps -r requirements.lock  # the lock is complete: exactly it, nothing more
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the pinned dependencies (torch first)

LEMMA_STAMP := $(VENV)/.lemmatise
$(LEMMA_STAMP): requirements-lemmatise.lock $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-lemmatise.lock
	touch $(LEMMA_STAMP)

setup-lemmatise: $(LEMMA_STAMP)  ## add the optional GPL-3.0 lemmatiser (preprocess.stemmer: qalsadi); make test does

SERVICES_PKGS := postgresql chromium
setup-services:  ## install the servers tests start (PostgreSQL; Chromium for the UI test) when missing (apt, as root or sudo)
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing="postgresql"; \
	command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing="$$missing chromium"; \
	if [ -z "$$missing" ]; then echo "setup-services: $(SERVICES_PKGS) present"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "setup-services: missing:$$missing (not root, no sudo): the tests that need them will skip"; exit 0; fi; \
	{ $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q $$missing; } \
	  || echo "setup-services: could not install$$missing: the tests that need them will skip"

run: setup  ## run the whole pipeline on the embedded demo site (dvc repro); PROFILE=full: full-size settings (dvc exp run)
	$(if $(PROFILE),$(BIN)/python -m pipeline profile $(PROFILE) --run,$(BIN)/dvc repro)
	@echo "Done: reports/report.html; compare runs with: $(BIN)/mlflow ui"

serve: setup  ## serve the registered champion over HTTP (python -m pipeline serve; PORT=N to override serve.port)
	$(BIN)/python -m pipeline serve $(if $(PORT),--port $(PORT))

ui: setup  ## the demo UI in a browser (python -m pipeline ui, Streamlit) over the served model; PORT=N (default 8501)
	$(BIN)/python -m pipeline ui $(if $(PORT),--port $(PORT))

test: setup setup-lemmatise  ## run the whole test suite, slow end-to-end tests included
	$(BIN)/python -m pytest

test-fast: setup setup-lemmatise  ## the test suite without the slow end-to-end tests
	$(BIN)/python -m pytest -m "not slow"

lint: setup  ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup  ## ruff format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

params-doc: setup  ## regenerate README.md's params reference from the schema (python -m pipeline params --markdown)
	$(BIN)/python -c 'from pipeline.config.schema import update_readme; update_readme("README.md")'

bench: setup  ## run every benchmark in bench/ (figures in reports/bench/<name>.json)
	@set -e; for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f; done

lock: setup  ## re-resolve requirements.lock from the installed environment
	{ echo "# Exact versions of every package, resolved on Python 3.11 / Linux x86-64 (CPU torch)."; \
	  echo "# \`make setup\` installs torch==2.13.0 first, then this file. Regenerate with \`make lock\`."; \
	  $(BIN)/python -m pip freeze --all --exclude-editable | grep -v -e "^pip==" -e "^pytorch-lightning==" | grep -v -i -f <(sed -n "s/^\([^#][^=]*\)==.*/^\1==/p" requirements-lemmatise.lock) | sed -E 's/^torch==([0-9.]+)\+cpu$$/torch==\1/'; } > requirements.lock

clean:  ## remove the virtual environment and caches (not data, models or the MLflow store)
	rm -rf $(VENV) .pytest_cache .ruff_cache

dvc-deps: setup  ## re-fit every dvc.yaml stage's code deps to what its entry point imports (tests/test_dvc_deps.py checks)
	$(BIN)/python -m tests.fit_dvc_deps

# The scheduled retrain (.github/workflows/retrain.yml calls these targets, one per step). The DVC remote is
# core.remote in .dvc/config (a folder beside the checkout) unless DVC_REMOTE names another (s3). DVC_STORE,
# DVC_S3_URL and DVC_S3_ENDPOINT, when set, are written to .dvc/config.local (not committed) by `make remote`.
DVC_REMOTE ?=
REMOTE_ARG = $(if $(DVC_REMOTE),-r $(DVC_REMOTE))

retrain:  ## what the weekly workflow does: pull, rescrape, repro, push, gate-summary
	$(MAKE) pull
	$(MAKE) rescrape
	$(MAKE) repro
	$(MAKE) push
	$(MAKE) gate-summary

remote: setup  ## point the DVC remotes at $DVC_STORE, $DVC_S3_URL, $DVC_S3_ENDPOINT when set (.dvc/config.local)
	$(if $(DVC_STORE),$(BIN)/dvc remote modify --local local url $(abspath $(DVC_STORE)))
	$(if $(DVC_S3_URL),$(BIN)/dvc remote modify --local s3 url $(DVC_S3_URL))
	$(if $(DVC_S3_ENDPOINT),$(BIN)/dvc remote modify --local s3 endpointurl $(DVC_S3_ENDPOINT))

pull: remote  ## restore the DVC outputs and the run state (MLflow store, crawl journal) from the remote
	$(BIN)/dvc pull $(REMOTE_ARG) --allow-missing
	$(BIN)/python -m ops.state pull $(REMOTE_ARG)

rescrape: setup  ## crawl again (the scrape stage only, never from DVC's run-cache; a saved journal resumes)
	$(BIN)/dvc repro --force scrape

repro: setup  ## dvc repro: the stages whose inputs changed, the gate (register) included
	$(BIN)/dvc repro

push: remote  ## upload the DVC outputs and the run state to the remote
	$(BIN)/dvc push $(REMOTE_ARG)
	$(BIN)/python -m ops.state push $(REMOTE_ARG)

push-journal: remote  ## upload only an unfinished crawl's journal (the workflow runs it when a step failed)
	$(BIN)/python -m ops.state push --only journal $(REMOTE_ARG)

gate-summary: setup  ## the gate's decision and the run's figures in Markdown (also to $GITHUB_STEP_SUMMARY, $GATE_SUMMARY)
	$(BIN)/python -m ops.summary $(if $(GATE_SUMMARY),--out $(GATE_SUMMARY))
