# make demo: set up .venv (if missing) and run the main job; make test: set up and run every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test install bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Reinstall when the project's metadata changes. torch/torchvision are pinned first so pip takes
# the builds on local disk and never fetches another.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	MLFLOW_DISABLE_TELEMETRY=true $(VENV)/bin/orderlab demo

# Two workers on two cores: one torch thread each (more threads only contend).
test: $(STAMP)
	OMP_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true $(PY) -m pytest -n 2 --dist loadgroup -q

bench: $(STAMP)
	for b in benchmarks/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info
