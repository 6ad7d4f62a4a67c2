"""End to end: the demo page in headless Chromium, as a person would use it."""
from __future__ import annotations

import hashlib
import json
import sys
import time

import numpy as np
import pytest
from conftest import REPO_ROOT, SAMPLES, runtimes

sys.path.insert(0, str(REPO_ROOT / "demo"))
import chromium  # noqa: E402
import classifier  # noqa: E402
from serve import start_server  # noqa: E402

pytestmark = pytest.mark.skipif("chrome" not in runtimes(),
                                reason="the demo page test runs with --runtime chrome")


def wait_status(driver, wanted: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = driver.execute_script("return document.documentElement.dataset.status")
        if status == wanted:
            return
        if status == "error":
            break
        time.sleep(0.2)
    state = driver.execute_script("return JSON.stringify(window.pywebinferDemo)")
    logs = "\n".join(e["message"] for e in driver.get_log("browser"))
    pytest.fail(f"page status is not {wanted!r}: {state}\nconsole:\n{logs}")


def page_state(driver) -> dict:
    return json.loads(driver.execute_script("return JSON.stringify(window.pywebinferDemo)"))


def wait_result(driver, caption: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = page_state(driver)
        if state["error"]:
            pytest.fail(f"page error: {state['error']}")
        if state["status"] == "ready" and (state["result"] or {}).get("caption") == caption:
            return state
        time.sleep(0.2)
    pytest.fail(f"no result for {caption!r}: {page_state(driver)}")


@pytest.fixture(scope="module")
def page():
    server, url = start_server()
    driver = chromium.driver(chromium.FAKE_CAMERA_FLAGS)
    try:
        driver.get(f"{url}?sample=chelsea&runs=2")
        wait_status(driver, "done")
        yield driver
    finally:
        driver.quit()
        server.shutdown()


def test_loads_with_progress_and_classifies_the_sample(page):
    state = page_state(page)
    assert page.find_element("css selector", ".progress").get_attribute("aria-valuenow") == "100"
    steps = [row["step"] for row in state["startup"]]
    assert steps == ["Pyodide runtime", "Packages", "Model download"]
    assert all(row["ms"] > 0 for row in state["startup"])

    top = state["result"]["top"]
    assert top[0]["label"] == "Egyptian cat"
    assert len(top) == 5
    probabilities = [entry["probability"] for entry in top]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1
    shown = [li.text for li in page.find_elements("css selector", "#top5 li")]
    assert len(shown) == 5 and shown[0].startswith("Egyptian cat")


def test_model_input_is_the_native_preprocessing(page):
    """Browser decode + Pillow-in-Pyodide resize == Pillow in CPython, bit for bit."""
    from PIL import Image

    rgb = np.asarray(Image.open(SAMPLES / "chelsea.jpg").convert("RGB"))
    expected = hashlib.sha256(classifier.preprocess(rgb).tobytes()).hexdigest()
    assert page_state(page)["result"]["model_input_sha256"] == expected


def test_timing_table(page):
    (row,) = page_state(page)["timings"]
    assert row["provider"] == "wasm" and row["runs"] == 2
    assert row["load_ms"] > 0 and row["first_ms"] > 0 and row["average_ms"] > 0
    cells = [td.text for td in page.find_elements("css selector", "#timings td")]
    assert cells[0] == "wasm" and all(cell != "–" for cell in cells)
    # EfficientNet's one Reshape is a view the wasm backend leaves to numpy, in plain sight
    assert row["nodes"]["wasm"] > 40 and cells[-1].startswith(f"{row['nodes']['wasm']} wasm")
    assert "Average of 2 predictions" in page.find_element("id", "average-header").text


def test_backend_selector_shows_why_backends_are_disabled(page):
    state = page_state(page)
    options = {o.get_attribute("value"): o for o in
               page.find_elements("css selector", "#backend option")}
    assert set(options) == {b["name"] for b in state["backends"]}
    for backend in state["backends"]:
        option = options[backend["name"]]
        assert option.get_attribute("disabled") == (None if backend["enabled"] else "true")
        assert option.get_attribute("title") == backend["reason"]
        if not backend["built"]:
            assert "not built" in backend["reason"]
    # this Chromium has every backend (WebGPU and WebGL2 on SwiftShader)
    assert all(b["enabled"] for b in state["backends"]), state["backends"]


def test_choose_a_file(page):
    page.find_element("id", "file-input").send_keys(str(SAMPLES / "coffee.jpg"))
    state = wait_result(page, "coffee.jpg")
    assert state["result"]["top"][0]["label"] == "espresso"


def test_drop_an_image(page):
    page.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch("models/samples/rocket.jpg").then((r) => r.blob()).then((blob) => {
          const files = new DataTransfer();
          files.items.add(new File([blob], "dropped-rocket.jpg", { type: "image/jpeg" }));
          const target = document.getElementById("input-panel");
          target.dispatchEvent(new DragEvent("dragover", { dataTransfer: files, bubbles: true }));
          target.dispatchEvent(new DragEvent("drop", { dataTransfer: files, bubbles: true }));
          done();
        });
    """)
    state = wait_result(page, "dropped-rocket.jpg")
    assert state["result"]["top"][0]["label"] == "missile"


def test_webcam_frame(page):
    page.find_element("id", "webcam-start").click()
    capture = page.find_element("id", "webcam-capture")
    deadline = time.monotonic() + 30
    while not capture.is_enabled() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert capture.is_enabled(), page.find_element("id", "webcam-note").text
    capture.click()
    state = wait_result(page, "webcam frame")
    assert len(state["result"]["top"]) == 5
    assert state["result"]["image_size"][0] > 0


@pytest.mark.parametrize("backend", ["webgpu", "numpy"])
def test_switch_backend_and_classify(page, backend):
    """Choosing a backend makes its session (WebGPU's asynchronously) and runs there."""
    from selenium.webdriver.support.ui import Select

    Select(page.find_element("id", "backend")).select_by_value(backend)
    wait_status(page, "ready")
    page.execute_script("window.pywebinferDemo.classifySample('chelsea')")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        state = page_state(page)
        if state["error"]:
            pytest.fail(f"page error: {state['error']}")
        result = state["result"] or {}
        if state["status"] == "ready" and result.get("provider") == backend \
                and result.get("caption") == "chelsea.jpg":
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"no {backend} result: {page_state(page)}")
    assert state["result"]["top"][0]["label"] == "Egyptian cat"
    row = next(r for r in state["timings"] if r["provider"] == backend)
    assert row["load_ms"] > 0 and row["first_ms"] > 0
