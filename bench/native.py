#!/usr/bin/env python3
"""The native half of `make bench`: pywebinfer's numpy backend in CPython against
onnxruntime's CPU provider, both on one thread, same workloads and inputs as the browser.

    native.py PLAN_JSON OUT_JSON [--source DIR]

bench/run.py starts it in a child process with OPENBLAS_NUM_THREADS=1 (and friends), so
numpy's BLAS stays on one thread like onnxruntime; the two configurations alternate run
by run, as in the browser.  Writes {"environment": ..., "records": [...]} to OUT_JSON.
"""
from __future__ import annotations

import argparse
import collections
import json
import math
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workloads import NATIVE_CONFIGS, read_tensor, reference_session  # noqa: E402


def error_line() -> str:
    """The current exception as one line: "ValueError: ..."."""
    return traceback.format_exc().strip().splitlines()[-1]


def max_abs_diff(outputs, references) -> float:
    diffs = [np.abs(np.asarray(a, np.float64) - r.astype(np.float64)) for a, r in zip(outputs, references)]
    return max(float(d.max()) if np.isfinite(d).all() else float("inf") for d in diffs)


class PywebinferNumpy:
    def __init__(self, model: bytes):
        import pywebinfer

        self.session = pywebinfer.InferenceSession(model, providers=["numpy"])
        self.placement = dict(collections.Counter(b for _, _, b in self.session.placement))

    def run(self, names, feeds):
        return self.session.run(names, feeds)


class OnnxruntimeCpu:
    placement = None

    def __init__(self, model: bytes):
        self.session = reference_session(model, threads=1)

    def run(self, names, feeds):
        return self.session.run(names, feeds)


RUNNERS = {"native/pywebinfer-numpy": PywebinferNumpy, "native/onnxruntime-cpu": OnnxruntimeCpu}


def new_record(spec: dict, config: dict) -> dict:
    return {"workload": spec["name"], "kind": spec["kind"], "runtime": config["runtime"],
            "backend": config["backend"], "threads": config["threads"], "config": config["id"],
            "host": "cpython", "status": "ok", "load_ms": None, "first_ms": None,
            "median_ms": None, "min_ms": None, "mean_ms": None, "runs": 0, "times_ms": [],
            "max_abs_diff": None, "wasm_heap_bytes": None, "gpu_bytes": None,
            "gpu_peak_bytes": None, "providers": [config["backend"]], "placement": None,
            "error": None, "note": None}


def run_workload(spec: dict, settings: dict) -> list[dict]:
    feeds = {d["name"]: read_tensor(d) for d in spec["inputs"]}
    references = [read_tensor(d) for d in spec["outputs"]]
    names = [d["name"] for d in spec["outputs"]]
    model = Path(spec["model_file"]).read_bytes()
    records, runners = {}, {}

    def fail(config_id, during):
        records[config_id].update(status="error", error=f"{during}: {error_line()}")
        runners.pop(config_id, None)

    for config in NATIVE_CONFIGS:
        record = records[config["id"]] = new_record(spec, config)
        try:
            start = time.perf_counter()
            runner = RUNNERS[config["id"]](model)
            record["load_ms"] = (time.perf_counter() - start) * 1000
            record["placement"] = runner.placement
            runners[config["id"]] = runner
        except Exception:
            fail(config["id"], "load")

    def timed(config_id, check):
        start = time.perf_counter()
        outputs = runners[config_id].run(names, feeds)
        ms = (time.perf_counter() - start) * 1000
        if check:
            record = records[config_id]
            diff = max_abs_diff(outputs, references)
            if math.isfinite(diff):
                record["max_abs_diff"] = max(record["max_abs_diff"] or 0.0, diff)
            else:  # JSON has no Infinity: the note says it instead
                record["note"] = "output has NaN or Inf values"
        return ms

    for config_id in list(runners):
        try:
            records[config_id]["first_ms"] = timed(config_id, True)
        except Exception:
            fail(config_id, "first run")
    warm = {config_id: [] for config_id in runners}
    for _ in range(settings["warmup"]):
        for config_id in list(runners):
            if records[config_id]["first_ms"] > settings["slow_run_ms"] and warm[config_id]:
                continue
            try:
                warm[config_id].append(timed(config_id, False))
            except Exception:
                fail(config_id, "warm-up")
    target = {}
    for config_id in runners:
        estimate = statistics.median(warm[config_id] or [records[config_id]["first_ms"]])
        fits = int(spec["budget_s"] * 1000 / max(estimate, 1e-3))
        target[config_id] = max(settings["min_runs"], min(spec["runs"], fits))
    order = list(runners)
    for round_index in range(max(target.values(), default=0)):
        k = round_index % len(order)
        for config_id in order[k:] + order[:k]:
            record = records[config_id]
            if config_id not in runners or len(record["times_ms"]) >= target[config_id]:
                continue
            try:
                record["times_ms"].append(timed(config_id, len(record["times_ms"]) == target[config_id] - 1))
            except Exception:
                fail(config_id, "timed run")
    for config_id, record in records.items():
        times = record["times_ms"]
        if record["status"] != "ok" or not times:
            continue
        record.update(runs=len(times), median_ms=statistics.median(times), min_ms=min(times),
                      mean_ms=statistics.fmean(times))
        if len(times) < settings["wanted_runs"]:
            record["note"] = (f"only {len(times)} timed run{'' if len(times) == 1 else 's'} (a run "
                              f"takes ~{round(record['median_ms'])} ms; budget {spec['budget_s']:g} s "
                              f"per configuration)")
    return list(records.values())


def environment() -> dict:
    import onnxruntime

    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"python": platform.python_version(), "numpy": np.__version__,
            "onnxruntime": onnxruntime.__version__, "platform": platform.platform(),
            "cpu": cpu}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("plan", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--source", type=Path, help="where the pywebinfer package is")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(args.source))
    plan = json.loads(args.plan.read_text())
    records = []
    for spec in plan["workloads"]:
        print(f"  native {spec['name']}", flush=True)
        try:
            records += run_workload(spec, plan["settings"])
        except Exception:
            for config in NATIVE_CONFIGS:
                record = new_record(spec, config)
                record.update(status="error", error=error_line())
                records.append(record)
    env = environment()
    try:
        import pywebinfer

        env["pywebinfer"] = pywebinfer.__version__
    except Exception:
        env["pywebinfer"] = f"import failed: {error_line()}"
    args.out.write_text(json.dumps({"environment": env, "records": records}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
