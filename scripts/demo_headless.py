#!/usr/bin/env python3
"""Show that the demo page works where there is no display: drive it in headless Chromium.

    demo_headless.py [--sample chelsea] [--runs 20] [--backend wasm] [--screenshot build/demo/screenshot.png]

Serves the page (scripts/serve.py) on a free localhost port, opens it with ?sample=NAME,
waits while Pyodide and pywebinfer boot in the page's worker, the model loads, the
sample photo is classified and the benchmark runs; then prints the start-up times, the
top-5 and the timing table, saves a screenshot, and exits 0 only if the top-1 label is
the expected one.
"""
from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chromium  # noqa: E402
from serve import REPO_ROOT, start_server  # noqa: E402

EXPECTED_TOP1 = {"chelsea": "Egyptian cat", "coffee": "espresso", "rocket": "missile"}


def fmt_ms(value) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"


def wait_for_page(driver, timeout: float) -> str:
    """Poll the page's status, echoing its progress line, until done or error."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        status, text = driver.execute_script(
            "return [document.documentElement.dataset.status || 'loading',"
            " (document.getElementById('progress-text') || {}).textContent || '']")
        if text != last and not text.startswith("Downloading the model"):
            print(f"  page: {text}", flush=True)
            last = text
        if status in ("done", "error"):
            return status
        time.sleep(0.25)
    return "timeout"


def save_screenshot(driver, path: Path) -> None:
    """The whole page, not only the window's viewport."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot",
                                  {"format": "png", "captureBeyondViewport": True})
    path.write_bytes(base64.b64decode(shot["data"]))


def report(state: dict) -> None:
    print("\nStart-up (in the page's worker):")
    for row in state["startup"]:
        print(f"  {row['step']:<16} {fmt_ms(row['ms']):>10}   {row['detail']}")
    print("\nBackends:")
    for backend in state["backends"]:
        mark = "available" if backend["enabled"] else "disabled"
        print(f"  {backend['name']:<7} {mark:<10} {backend['reason']}")
    result = state["result"]
    print(f"\nTop-5 for {result['caption']} on {result['provider']} "
          f"(preprocessing {fmt_ms(result['preprocess_ms'])}):")
    for rank, entry in enumerate(result["top"], 1):
        print(f"  {rank}. {entry['label']:<40} {entry['probability'] * 100:6.2f} %")
    print("\nTimings:")
    print(f"  {'backend':<8} {'model load':>12} {'first prediction':>18} {'average':>12} runs"
          "  nodes ran on")
    for row in state["timings"]:
        nodes = ", ".join(f"{n} {backend}" for backend, n in (row.get("nodes") or {}).items())
        print(f"  {row['provider']:<8} {fmt_ms(row['load_ms']):>12} {fmt_ms(row['first_ms']):>18}"
              f" {fmt_ms(row['average_ms']):>12} {row['runs']:>4}  {nodes}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", default="chelsea", choices=sorted(EXPECTED_TOP1))
    parser.add_argument("--runs", type=int, default=20, help="predictions to average")
    parser.add_argument("--backend", choices=["numpy", "wasm", "webgpu", "webgl"],
                        help="the backend to run on (default: the page's choice, wasm)")
    parser.add_argument("--screenshot", type=Path,
                        default=REPO_ROOT / "build" / "demo" / "screenshot.png")
    parser.add_argument("--timeout", type=float, default=900, help="seconds for the whole run")
    args = parser.parse_args(argv)

    server, url = start_server()
    driver = chromium.driver()
    try:
        page = f"{url}?sample={args.sample}&runs={args.runs}"
        if args.backend:
            page += f"&backend={args.backend}"
        print(f"demo: {page} in headless Chromium", flush=True)
        start = time.monotonic()
        driver.get(page)
        status = wait_for_page(driver, args.timeout)
        state = json.loads(driver.execute_script("return JSON.stringify(window.pywebinferDemo)"))
        save_screenshot(driver, args.screenshot)
        if status != "done":
            print(f"\ndemo: FAILED ({status}): {state.get('error')}", file=sys.stderr)
            for entry in driver.get_log("browser"):
                print(f"  console {entry['level']}: {entry['message']}", file=sys.stderr)
            print(f"screenshot: {args.screenshot}", file=sys.stderr)
            return 1
        report(state)
        top1 = state["result"]["top"][0]["label"]
        expected = EXPECTED_TOP1[args.sample]
        print(f"\nscreenshot: {args.screenshot}")
        print(f"demo finished in {time.monotonic() - start:.1f} s")
        if top1 != expected:
            print(f"demo: FAILED: top-1 for {args.sample} is {top1!r}, expected {expected!r}",
                  file=sys.stderr)
            return 1
        print(f"demo: ok (top-1 {top1!r})")
        return 0
    finally:
        driver.quit()
        server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
