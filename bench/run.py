#!/usr/bin/env python3
"""`make bench`: pywebinfer against onnxruntime-web and TensorFlow.js in one browser run.

    bench/run.py [--only WORKLOAD,...] [--configs REGEX] [--no-native] [--no-cold]
                 [--quick] [--pyodide-dist DIR] [--source DIR]

1. Writes each workload's inputs and native onnxruntime's reference outputs
   (build/bench/data, bench/workloads.py).
2. Native: pywebinfer's numpy backend in CPython against onnxruntime CPU, 1 thread
   (bench/native.py, in a child process).
3. One headless Chromium session on a local server with cross-origin isolation
   (scripts/serve.py, scripts/chromium.py): cold starts first (bench/cold.html, cache
   cleared before each), then the harness (bench/index.html) runs every configuration.
4. Writes bench/results/latest.json (+ a dated copy), latest.md and latest.png, and prints
   the tables (bench/report.py).

Workloads: efficientnet_lite0 minilm_4x11 minilm_1x128 sgemm_256 sgemm_512 sgemm_1024
conv3x3 dwconv3x3 conv1x1.  Configurations: see bench/workloads.py (CONFIGS).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(REPO_ROOT / "scripts"))
import chromium  # noqa: E402
import report  # noqa: E402
import workloads  # noqa: E402
from serve import DEFAULT_MOUNTS, start_server  # noqa: E402

DATA_DIR = REPO_ROOT / "build" / "bench" / "data"
RESULTS_DIR = BENCH_DIR / "results"
NODE_MODULES = REPO_ROOT / "node_modules"
NPM_MOUNTS = {
    "/npm/onnxruntime-web/": NODE_MODULES / "onnxruntime-web" / "dist",
    "/npm/tfjs/": NODE_MODULES / "@tensorflow" / "tfjs" / "dist",
    "/npm/tfjs-backend-wasm/": NODE_MODULES / "@tensorflow" / "tfjs-backend-wasm" / "dist",
    "/npm/tfjs-backend-webgpu/": NODE_MODULES / "@tensorflow" / "tfjs-backend-webgpu" / "dist",
}
NPM_PACKAGES = {"onnxruntime-web": "onnxruntime-web", "tfjs": "@tensorflow/tfjs",
                "tfjs-backend-wasm": "@tensorflow/tfjs-backend-wasm",
                "tfjs-backend-webgpu": "@tensorflow/tfjs-backend-webgpu", "pyodide": "pyodide"}
SETTINGS = {
    "warmup": 2,               # warm-up rounds after the first run ...
    "slow_run_ms": 2000,       # ... one only where the first run took longer than this
    "very_slow_run_ms": 8000,  # ... and none where it took longer than this
    "wanted_runs": 20,         # fewer timed runs than this are flagged in the record's note
    "min_runs": 1,             # however long one run takes (software GPUs: 10-60 s a run) ...
    "max_config_s": 75,        # ... unless first run + warm-up + it pass this (then: none)
    "start_timeout_s": 240, "load_timeout_s": 300, "run_timeout_s": 300,
}
COLD_WORKLOAD = "efficientnet_lite0"
# numpy's BLAS (and any OpenMP) on one thread, like onnxruntime's intra-op pool
ONE_THREAD = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def say(message: str) -> None:
    print(message, flush=True)


def npm_versions() -> dict:
    versions = {}
    for key, package in NPM_PACKAGES.items():
        manifest = NODE_MODULES / package / "package.json"
        versions[key] = json.loads(manifest.read_text())["version"] if manifest.exists() else None
    return versions


def run_native(plan_path: Path, source: Path, timeout: float) -> dict:
    out = DATA_DIR / "native.json"
    out.unlink(missing_ok=True)
    say("native: pywebinfer numpy vs onnxruntime CPU, 1 thread (CPython)")
    result = subprocess.run([sys.executable, str(BENCH_DIR / "native.py"), str(plan_path), str(out),
                             "--source", str(source)], env={**os.environ, **ONE_THREAD},
                            timeout=timeout)
    if result.returncode != 0 or not out.exists():
        raise RuntimeError(f"bench/native.py failed (exit code {result.returncode})")
    return json.loads(out.read_text())


def wait_for(driver, expression: str, timeout: float, log_expression: str | None = None) -> dict:
    """Poll a page's state object until its status is no longer "running"; echo its log."""
    deadline = time.monotonic() + timeout
    shown = 0
    while True:
        state = driver.execute_script(f"return {expression} ? JSON.stringify({expression}) : null")
        state = json.loads(state) if state else {"status": "running"}
        for line in state.get("log", [])[shown:]:
            say(f"  {line}")
        shown = len(state.get("log", []))
        if state["status"] != "running":
            return state
        if time.monotonic() > deadline:
            state["status"] = "timeout"
            state["error"] = f"no result after {timeout:.0f} s"
            return state
        time.sleep(0.5)


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def cold_starts(driver, url: str, spec: dict, runs: int, timeout: float) -> list[dict]:
    """Navigation to the first EfficientNet result, each runtime in turn, cache cleared."""
    model_input = spec["inputs"][0]
    query = (f"model={spec['model_url']}&input={model_input['url']}&name={model_input['name']}"
             f"&shape={','.join(map(str, model_input['shape']))}")
    results = []
    for run in range(1, runs + 1):
        for runtime in ("pywebinfer", "onnxruntime-web"):
            driver.get("about:blank")
            driver.execute_cdp_cmd("Network.clearBrowserCache", {})
            driver.get(f"{url}bench/cold.html?runtime={runtime}&{query}")
            state = wait_for(driver, "window.coldState", timeout)
            state["run"] = run
            if state["status"] == "done":
                say(f"  cold start {runtime} #{run}: {state['total_ms'] / 1000:.2f} s "
                    f"(top-1 {state['top1']})")
            else:
                say(f"  cold start {runtime} #{run}: {state['status']}: {state.get('error')}")
            results.append(state)
    return results


def run_browser(specs: list[dict], args) -> dict:
    mounts = {**DEFAULT_MOUNTS, "/pyodide/": args.pyodide_dist, "/bench/": BENCH_DIR,
              "/bench-data/": DATA_DIR, **NPM_MOUNTS}
    server, url = start_server(mounts=mounts)
    driver = chromium.driver()
    try:
        cold = []
        cold_spec = next((s for s in specs if s["name"] == COLD_WORKLOAD), None)
        if args.cold_runs and cold_spec:
            say(f"cold start: {args.cold_runs} run(s) per runtime")
            cold = cold_starts(driver, url, cold_spec, args.cold_runs, args.start_timeout)
        elif args.cold_runs:
            say(f"cold start skipped: it runs the {COLD_WORKLOAD} workload, not selected")
        driver.get("about:blank")
        say(f"harness: {url}bench/index.html (times below: seconds since the page opened)")
        driver.get(f"{url}bench/index.html")
        state = wait_for(driver, "window.benchState", args.timeout)
        if state["status"] != "done":
            state["console_errors"] = console_errors(driver)
        state["cold_start"] = cold
        return state
    finally:
        driver.quit()
        server.shutdown()


def select(args) -> tuple[list[str], list[dict]]:
    names = [w.name for w in workloads.WORKLOADS]
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise SystemExit(f"bench: unknown workload(s) {unknown}; known: {names}")
        names = [n for n in names if n in wanted]
    configs = [c for c in workloads.CONFIGS if re.search(args.configs, c["id"])]
    if not configs:
        raise SystemExit(f"bench: no configuration matches {args.configs!r}")
    return names, configs


def save(results: dict) -> dict[str, Path]:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = results["started"].replace(":", "").replace("-", "")
    paths = {"json": RESULTS_DIR / "latest.json", "md": RESULTS_DIR / "latest.md",
             "png": RESULTS_DIR / "latest.png"}
    paths["json"].write_text(json.dumps(results, indent=1))
    paths["md"].write_text(report.markdown(results) + "\n")
    report.chart(results, paths["png"])
    for kind in ("json", "png"):
        shutil.copyfile(paths[kind], RESULTS_DIR / f"{stamp}.{kind}")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated workloads (default: all)")
    parser.add_argument("--configs", default=".", help="regular expression on configuration "
                        "ids, e.g. 'wasm' or '^(pywebinfer|onnxruntime-web)/'")
    parser.add_argument("--no-native", action="store_true", help="skip the CPython comparison")
    parser.add_argument("--cold-runs", type=int, default=1,
                        help="cold starts per runtime (0 skips them)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 5 timed runs, 1 s budgets, one warm-up")
    parser.add_argument("--pyodide-dist", type=Path, default=REPO_ROOT / "dist" / "pyodide",
                        help="the Pyodide distribution with pywebinfer (`make dist`)")
    parser.add_argument("--source", type=Path, default=REPO_ROOT,
                        help="directory holding the pywebinfer package for the native runs")
    parser.add_argument("--timeout", type=float, default=2400, help="seconds for the harness")
    parser.add_argument("--start-timeout", type=float, default=240,
                        help="seconds for each cold start")
    args = parser.parse_args(argv)

    started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    clock = time.monotonic()
    names, configs = select(args)
    settings = dict(SETTINGS)
    if args.quick:
        settings.update(warmup=1)
    say(f"bench: workloads {', '.join(names)}")
    specs = workloads.prepare(DATA_DIR, names)
    if args.quick:
        for spec in specs:
            spec.update(runs=5, budget_s=1.0)
    plan_path = workloads.write_plan(DATA_DIR, specs, configs, settings)

    native = {"environment": None, "records": []}
    if not args.no_native:
        native = run_native(plan_path, args.source, args.timeout)
        say(f"native done ({time.monotonic() - clock:.0f} s since start)")
    browser = run_browser(specs, args)
    say(f"browser done ({time.monotonic() - clock:.0f} s since start)")

    finished = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    results = {
        "schema": 1,
        "complete": browser["status"] == "done",
        "started": started.isoformat().replace("+00:00", "Z"),
        "finished": finished.isoformat().replace("+00:00", "Z"),
        "duration_s": time.monotonic() - clock,
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "settings": settings,
        "versions": npm_versions(),
        "environment": {"browser": browser.get("environment"), "native": native["environment"],
                        "cpu_count": os.cpu_count(), "runtimes": browser.get("runtimes")},
        "workloads": [{k: v for k, v in spec.items() if k not in ("inputs", "outputs", "constants",
                                                                    "model_file")} for spec in specs],
        "records": browser.get("records", []) + native["records"],
        "cold_start": browser["cold_start"],
    }
    paths = save(results)
    say("")
    say(report.markdown(results))
    say("")
    say(f"bench: {results['duration_s']:.0f} s; results in {paths['json'].relative_to(REPO_ROOT)}, "
        f"{paths['md'].relative_to(REPO_ROOT)}, chart {paths['png'].relative_to(REPO_ROOT)}")
    if not results["complete"]:
        say(f"bench: FAILED: the harness did not finish ({browser['status']}): "
            f"{browser.get('error')}; the results above are partial")
        for line in browser.get("console_errors", []):
            say(f"  console: {line}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
