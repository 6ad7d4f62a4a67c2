"""End to end: the JupyterLite site that `make notebook` builds, in headless Chromium.

Builds the site with `scripts/build_notebook.py --no-serve` (from the Pyodide distribution
in $PYWEBINFER_DIST, by default dist/pyodide), serves it on localhost, opens
demo/pywebinfer_demo.ipynb, runs all cells through JupyterLab's own command (the site
exposes `window.jupyterapp`) and checks what a reader would see: no error outputs, the
top-1 labels, the sentence-similarity ordering, the figures.  Screenshots and the
executed notebook go to build/test-artifacts/notebook/.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "scripts"))
sys.path.insert(0, str(REPO_ROOT / "demo"))
import build_notebook  # noqa: E402
import chromium  # noqa: E402  (also sets SE_CHROMEDRIVER and SE_OFFLINE for selenium)
import classifier  # noqa: E402  (the demo page's preprocessing, run natively)

NOTEBOOK = "pywebinfer_demo.ipynb"
SITE = REPO_ROOT / "build" / "notebook" / "site"
ARTIFACTS = REPO_ROOT / "build" / "test-artifacts" / "notebook"
KERNEL_TIMEOUT_S = 120
RUN_ALL_TIMEOUT_S = 480
EXPECTED_TOP1 = {"chelsea": "Egyptian cat", "coffee": "espresso", "rocket": "missile"}
# all-MiniLM-L6-v2 (onnxruntime): 0.755, 0.608 and 0.422 for these pairs
EXPECTED_NEAREST = {
    "A man is eating food.": "A man is eating a piece of bread.",
    "A man is eating a piece of bread.": "A man is eating food.",
    "The girl is carrying a baby.": "A woman is holding her infant.",
    "A woman is holding her infant.": "The girl is carrying a baby.",
    "A monkey is playing drums on a stage.": "Someone is playing a musical instrument.",
    "Someone is playing a musical instrument.": "A monkey is playing drums on a stage.",
}

KERNEL_STATUS_JS = """
const app = window.jupyterapp;
const panel = app && app.shell.currentWidget;
if (!panel || !panel.sessionContext) return null;
const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
return kernel ? kernel.status : "no kernel";
"""
RUN_ALL_JS = """
window.__runAll = null;
window.jupyterapp.commands.execute("notebook:run-all-cells").then(
    (ok) => { window.__runAll = {ok: ok}; },
    (error) => { window.__runAll = {error: String(error)}; });
"""
PROGRESS_JS = """
const panel = window.jupyterapp.shell.currentWidget;
const cells = panel.content.model.cells;
let done = 0, code = 0;
for (let i = 0; i < cells.length; i++) {
  const cell = cells.get(i);
  if (cell.type === "code") { code += 1; if (cell.executionCount !== null) done += 1; }
}
return {result: window.__runAll, done: done, code: code,
        status: panel.sessionContext.session.kernel.status};
"""
CELLS_JS = """
const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
const out = [];
for (let i = 0; i < cells.length; i++) out.push(cells.get(i).toJSON());
return JSON.stringify(out);
"""
# Runs code in the notebook's kernel after the cells; resolves to its printed text.
KERNEL_EXECUTE_JS = """
const [code, done] = arguments;
const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
const future = kernel.requestExecute({code: code, store_history: false});
let text = "";
future.onIOPub = (msg) => {
  if (msg.header.msg_type === "stream") text += msg.content.text;
  if (msg.header.msg_type === "error") text += msg.content.traceback.join("\\n");
};
future.done.then(() => done(text), (error) => done("ERROR " + String(error)));
"""
# Brings a cell's last figure to the middle of the window.
SCROLL_TO_FIGURE_JS = """
const [index, done] = arguments;
const notebook = window.jupyterapp.shell.currentWidget.content;
notebook.activeCellIndex = index;
Promise.resolve(notebook.scrollToItem(index, "start")).then(() => setTimeout(() => {
  const images = notebook.widgets[index].node.querySelectorAll(".jp-OutputArea img");
  if (images.length) images[images.length - 1].scrollIntoView({block: "center"});
  setTimeout(done, 300);
}, 300));
"""


def driver_with_network_log():
    """Headless Chromium with the project's flags, recording console and network.

    No host name resolves in it, so whatever the site would fetch from elsewhere (a CDN,
    PyPI) fails, in the kernel's worker too; the performance log names the page's own
    requests."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium.CHROMIUM
    for flag in chromium.FLAGS:
        options.add_argument(flag)
    options.add_argument("--window-size=1400,1200")
    options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(options=options, service=Service(chromium.CHROMEDRIVER))


def requested_urls(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def save_screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def console(driver) -> str:
    return "\n".join(entry["message"] for entry in driver.get_log("browser"))


def output_text(cell: dict) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            parts.append("".join(output["text"]))
        elif "text/plain" in output.get("data", {}):
            parts.append("".join(output["data"]["text/plain"]))
    return "".join(parts)


@pytest.fixture(scope="module")
def executed():
    """Build and serve the site, run every cell once; yields what the checks need."""
    dist = os.environ.get("PYWEBINFER_DIST", str(build_notebook.PYODIDE_DIST))
    subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "build_notebook.py"),
                    "--no-serve", "--out", str(SITE), "--dist", dist], check=True)
    server, base = build_notebook.start_server(SITE)
    driver = driver_with_network_log()
    driver.set_script_timeout(120)
    try:
        opened = time.monotonic()
        driver.get(build_notebook.notebook_url(base, NOTEBOOK))
        status = None
        while time.monotonic() - opened < KERNEL_TIMEOUT_S:
            status = driver.execute_script(KERNEL_STATUS_JS)
            if status == "idle":
                break
            time.sleep(0.25)
        kernel_ready_s = time.monotonic() - opened
        if status != "idle":
            save_screenshot(driver, "kernel-not-ready.png")
            pytest.fail(f"the kernel is {status!r} {KERNEL_TIMEOUT_S} s after opening the "
                        f"notebook\nconsole:\n{console(driver)}")

        started = time.monotonic()
        driver.execute_script(RUN_ALL_JS)
        progress, finished_at = {}, []  # when each code cell got its execution count
        while time.monotonic() - started < RUN_ALL_TIMEOUT_S:
            progress = driver.execute_script(PROGRESS_JS)
            while len(finished_at) < progress["done"]:
                finished_at.append(time.monotonic() - started)
            if progress["result"] is not None and progress["status"] == "idle":
                break
            time.sleep(0.5)
        run_all_s = time.monotonic() - started
        print("code cells finished at " + ", ".join(f"{t:.0f}" for t in finished_at) + " s")
        cells = json.loads(driver.execute_script(CELLS_JS))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / NOTEBOOK.replace(".ipynb", ".executed.ipynb")).write_text(json.dumps(
            {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1))
        if progress.get("result") is None:
            save_screenshot(driver, "run-all-timeout.png")
            pytest.fail(f"run-all did not finish in {RUN_ALL_TIMEOUT_S} s: {progress}\n"
                        f"console:\n{console(driver)}")

        driver.execute_script("window.jupyterapp.shell.collapseLeft()")
        screenshots = [save_screenshot(driver, "01-top.png")]
        figures = [i for i, cell in enumerate(cells)
                   if any("image/png" in o.get("data", {}) for o in cell.get("outputs", []))]
        for number, index in enumerate(figures, start=2):
            driver.execute_async_script(SCROLL_TO_FIGURE_JS, index)
            screenshots.append(save_screenshot(driver, f"{number:02d}-figure-cell-{index}.png"))
        input_check = driver.execute_async_script(
            KERNEL_EXECUTE_JS, "import hashlib\nprint(hashlib.sha256(inputs['chelsea'].tobytes()).hexdigest())")
        yield {"cells": cells, "kernel_ready_s": kernel_ready_s, "run_all_s": run_all_s,
               "urls": requested_urls(driver), "base": base, "screenshots": screenshots,
               "input_check": input_check, "figures": figures}
    finally:
        driver.quit()
        server.shutdown()


def summary_of(cells: list[dict]) -> dict:
    text = output_text(cells[-1])
    return json.loads(text)


def test_every_cell_ran_without_errors(executed):
    code_cells = [c for c in executed["cells"] if c["cell_type"] == "code"]
    problems = []
    for number, cell in enumerate(code_cells, start=1):
        if cell["execution_count"] is None:
            problems.append(f"code cell {number} did not run")
        for output in cell["outputs"]:
            if output["output_type"] == "error":
                problems.append(f"code cell {number}: {output['ename']}: {output['evalue']}")
            elif output["output_type"] == "stream" and output["name"] == "stderr" \
                    and "Traceback" in "".join(output["text"]):
                problems.append(f"code cell {number} printed a traceback")
    assert not problems, "\n".join(problems)
    print(f"kernel ready {executed['kernel_ready_s']:.1f} s after opening the notebook; "
          f"all cells ran in {executed['run_all_s']:.1f} s")


def test_photos_get_their_labels(executed):
    summary = summary_of(executed["cells"])
    assert summary["top1"] == EXPECTED_TOP1
    for backend, row in summary["backends"].items():
        assert row["top1"] == EXPECTED_TOP1["chelsea"], f"{backend}: {row}"
    printed = "".join(output_text(c) for c in executed["cells"])
    for photo, label in EXPECTED_TOP1.items():
        assert f"{photo}.jpg: {label} (" in printed


def test_the_model_input_is_the_native_one(executed):
    """The browser's JPEG decoder and Pillow's resize in Pyodide give the very input that
    Pillow makes from the same file in CPython (chelsea's top-1 margin is small)."""
    rgb = np.asarray(Image.open(REPO_ROOT / "models" / "samples" / "chelsea.jpg").convert("RGB"))
    native = hashlib.sha256(classifier.preprocess(rgb).tobytes()).hexdigest()
    assert executed["input_check"].strip() == native


def test_similar_sentences_are_nearest(executed):
    assert summary_of(executed["cells"])["nearest"] == EXPECTED_NEAREST


def test_the_reader_sees_tables_figures_and_progress(executed):
    cells = executed["cells"]
    assert len(executed["figures"]) == 3, "top-5 bars, backend timings, similarity heat map"
    html = "".join("".join(o.get("data", {}).get("text/html", ""))
                   for c in cells if c["cell_type"] == "code" for o in c["outputs"])
    assert "<progress" in html and "done in" in html, "download progress bars"
    assert "<th>op</th>" in html and "Conv" in html, "the op support table"
    assert "<th>backend</th>" in html, "the backend timing table"
    for path in executed["screenshots"]:
        assert path.stat().st_size > 10_000, f"{path} looks empty"


def test_nothing_is_fetched_from_outside_the_site(executed):
    site = urlsplit(executed["base"]).netloc
    outside = sorted({url for url in executed["urls"]
                      if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != site})
    assert executed["urls"], "the network log recorded nothing"
    assert not outside, f"requests that left the site: {outside}"
