#!/usr/bin/env python3
"""`make conformance BACKEND=webgpu`: the ONNX node tests, run in Pyodide in headless
Chromium on a browser backend (WebGPU on SwiftShader here).

    python tests/browser/conformance_in_browser.py [--backend webgpu] [-k REGEX] [-v]

Cases whose op type the backend does not claim (in the registry) are skipped without
leaving the host; the others, with the current working tree's pywebinfer, are shipped to
the page in one zip and run there with ``await session.run_async(...)``, compared with
tests/conformance/runner.py's own ``compare`` and tolerances (BACKEND_TOLERANCE).  A case
whose model has a node the backend declines at load (UnsupportedOpError: an unclaimed op,
or an element type the backend lacks) is skipped too, as runner.run_case does.

Writes tests/conformance/results/<backend>.md (and .json) and ends with the same line as
tests/conformance/run.py: ``conformance BACKEND: N passed, M failed, K skipped``.  Exits
non-zero on an unexpected failure or an unexpected pass (expected_failures.txt).

The page is driven without WebDriver: a local HTTP server hands it the code and the
files, and the page posts its printed lines and its result back.
"""
from __future__ import annotations

import argparse
import http.server
import io
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = REPO_ROOT / "tests" / "conformance"
DIST = REPO_ROOT / "dist" / "pyodide"
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "scripts"))
sys.path.insert(0, str(CONFORMANCE))

PAGE = """<!doctype html><meta charset="utf-8"><title>pywebinfer in Pyodide</title>
<script type="module">
import { loadPyodide } from "/pyodide/pyodide.mjs";
let chain = Promise.resolve();
const post = (path, body) => { chain = chain.then(() => fetch(path, {method: "POST", body})); return chain; };
try {
  const py = await loadPyodide({indexURL: "/pyodide/", stdout: (s) => post("/log", s),
                                stderr: (s) => post("/log", s)});
  await py.loadPackage(["numpy"]);
  const bundle = await (await fetch("/bundle.zip")).arrayBuffer();
  py.unpackArchive(bundle, "zip", {extractDir: "/home/pyodide/bundle"});
  const code = await (await fetch("/main.py")).text();
  const result = await py.runPythonAsync(code);
  await post("/done", String(result));
} catch (e) {
  await post("/error", String((e && e.stack) || e));
}
</script>
"""


def bundle_zip(extra: dict[str, bytes | Path] | None = None) -> bytes:
    """The working tree's pywebinfer (shaders as package data, as the wheel has them)
    plus ``extra`` files (path in the bundle -> bytes or a host file)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for path in sorted((REPO_ROOT / "pywebinfer").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                z.write(path, path.relative_to(REPO_ROOT).as_posix())
        for path in sorted((REPO_ROOT / "shaders").rglob("*")):
            if path.is_file():
                z.write(path, "pywebinfer/" + path.relative_to(REPO_ROOT).as_posix())
        for name, data in (extra or {}).items():
            if isinstance(data, Path):
                z.write(data, name)
            else:
                z.writestr(name, data)
    return buf.getvalue()


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[str, bytes]] = {}
    events: "queue.Queue[tuple[str, str]]"

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, ctype: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path in self.routes:
            self._send(200, *self.routes[path])
            return
        if path.startswith("/pyodide/"):
            target = (DIST / path[len("/pyodide/"):]).resolve()
            if DIST.resolve() in target.parents and target.is_file():
                ctype = {".wasm": "application/wasm", ".js": "text/javascript",
                         ".mjs": "text/javascript", ".json": "application/json"}.get(
                    target.suffix, "application/octet-stream")
                self._send(200, ctype, target.read_bytes())
                return
        self._send(404, "text/plain", b"not found")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        self.events.put((self.path, body))
        self._send(200, "text/plain", b"ok")


def run_in_chromium(code: str, bundle: bytes, timeout: float = 600.0, echo=print) -> str:
    """Run ``code`` (async Python: top-level await works) in Pyodide in headless Chromium
    with ``bundle`` unpacked at /home/pyodide/bundle; returns the value of its last
    expression as a string, echoing what it prints.  Raises RuntimeError on an error."""
    import chromium  # scripts/chromium.py: the project's flags for headless Chromium

    if not (DIST / "pyodide.mjs").exists():
        raise SystemExit(f"{DIST} has no Pyodide: run `make dist`")
    handler = type("Handler", (_Handler,), {
        "routes": {"/": ("text/html", PAGE.encode()), "/main.py": ("text/x-python", code.encode()),
                   "/bundle.zip": ("application/zip", bundle)},
        "events": queue.Queue()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    profile = tempfile.mkdtemp(prefix="pywebinfer-chromium-")
    flags = [f for f in chromium.FLAGS if not f.startswith("--user-data-dir")]
    browser = subprocess.Popen(
        [chromium.CHROMIUM, *flags, f"--user-data-dir={profile}",
         f"http://127.0.0.1:{server.server_address[1]}/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"the page gave no result within {timeout:.0f} s")
            try:
                kind, body = handler.events.get(timeout=min(left, 5.0))
            except queue.Empty:
                if browser.poll() is not None:
                    raise RuntimeError(f"Chromium exited with status {browser.returncode}")
                continue
            if kind == "/log":
                echo(body)
            elif kind == "/done":
                return body
            elif kind == "/error":
                raise RuntimeError(f"the page failed:\n{body}")
    finally:
        browser.terminate()
        try:
            browser.wait(10)
        except subprocess.TimeoutExpired:
            browser.kill()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)


# The in-page half of the conformance run: results go back as one JSON document.
IN_PAGE = r"""
import json, os, sys, time
sys.path.insert(0, "/home/pyodide/bundle")
sys.path.insert(0, "/home/pyodide/bundle/conformance")
import runner  # tests/conformance/runner.py: compare() and the tolerances
import pywebinfer
from pywebinfer.onnx.importer import load_value

ROOT = "/home/pyodide/bundle/cases"
runner.GENERATED = ROOT


async def run_node_case(name):
    case_dir = os.path.join(ROOT, name)
    sess = await pywebinfer.InferenceSession.create_async(os.path.join(case_dir, "model.onnx"),
                                                         providers=[BACKEND])
    graph = sess.model.graph
    in_types = {v.name: v.type for v in graph.inputs}
    in_types.update({n: graph.value_type(n) for n in graph.initializers})
    try:
        for ds in sorted(d for d in os.listdir(case_dir) if d.startswith("test_data_set_")):
            files = os.listdir(os.path.join(case_dir, ds))
            n_in = sum(f.startswith("input_") for f in files)
            n_out = sum(f.startswith("output_") for f in files)
            names = [v.name for v in sess.graph.inputs][:n_in]
            feeds = {n: load_value(os.path.join(case_dir, ds, f"input_{j}.pb"), in_types.get(n))
                     for j, n in enumerate(names)}
            outputs = await sess.run_async(None, feeds)
            for j in range(n_out):
                vtype = graph.outputs[j].type
                expected = load_value(os.path.join(case_dir, ds, f"output_{j}.pb"), vtype)
                rtol, atol = runner._tolerance(CASES[name], BACKEND, getattr(expected, "dtype", None))
                msg = runner.compare(expected, outputs[j], rtol, atol, f"output {j} ({graph.outputs[j].name})")
                if msg:
                    return msg
    finally:
        sess.close()
    return None


async def run_light_case(name):
    case = CASES[name]
    sess = await pywebinfer.InferenceSession.create_async(os.path.join(ROOT, case["file"]), providers=[BACKEND])
    try:
        outputs = await sess.run_async(None, runner.light_case_feeds(sess.get_inputs()))
        for j, out in enumerate(outputs):
            expected = load_value(os.path.join(ROOT, case["file"][:-len(".onnx")] + f"_output_{j}.pb"))
            rtol, atol = runner._tolerance(case, BACKEND, expected.dtype)
            msg = runner.compare(expected, out, rtol, atol, f"output {j}")
            if msg:
                return msg
    finally:
        sess.close()
    return None


CASES = {c["name"]: c for c in json.load(open(os.path.join(ROOT, "cases.json")))}
results = {}
declined = {}  # skipped cases: why the backend declined their nodes at load
t0 = time.perf_counter()
for i, name in enumerate(CASES):
    t = time.perf_counter()
    try:
        msg = await (run_light_case(name) if "file" in CASES[name] else run_node_case(name))
    except pywebinfer.UnsupportedOpError as e:
        msg = runner.SKIP
        declined[name] = sorted({f"{m['op_type']}: {'; '.join(m.get('declined') or ['no kernel'])}"
                                 for m in e.missing})
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        msg = f"{type(e).__name__}: {first}"[:300]
    results[name] = [msg, round(time.perf_counter() - t, 4)]
    if VERBOSE or (msg is not None and msg != runner.SKIP):
        print(f"[{i + 1}/{len(CASES)}] {name}: {msg or 'pass'}")
json.dumps({"results": results, "declined": declined})
"""


def claimed_cases(backend: str, pattern: str | None, light: bool) -> tuple[list[dict], list[dict]]:
    """(cases to run in the page, cases skipped on the host) for ``backend``: node tests
    of op types it claims, and the light model graphs (whose ops are checked at load)."""
    import re

    import runner
    from pywebinfer.backends import load_backend_kernels
    from pywebinfer.ops.registry import load_all_kernels

    load_backend_kernels(backend)
    claimed = {op for op, _ in load_all_kernels().op_types(backend)}
    cases = runner.node_cases() + (runner.light_cases() if light else [])
    if pattern:
        rx = re.compile(pattern)
        cases = [c for c in cases if rx.search(c["name"])]
    run = [c for c in cases if c["op_type"] in claimed or "path" in c]
    return run, [c for c in cases if c not in run]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default=os.environ.get("BACKEND", "webgpu"))
    ap.add_argument("-k", dest="pattern", help="only cases whose name matches this regex")
    ap.add_argument("--no-light", action="store_true", help="skip the light CNN model graphs")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--timeout", type=float, default=3600.0)
    args = ap.parse_args(argv)

    import runner

    run, skipped = claimed_cases(args.backend, args.pattern, light=not args.no_light)
    shipped = []
    extra: dict[str, bytes | Path] = {"conformance/runner.py": CONFORMANCE / "runner.py"}
    for case in run:
        if "path" in case:  # a light model: its graph and reference output beside it
            model = Path(case["path"])
            extra[f"cases/{model.name}"] = model
            extra[f"cases/{model.stem}_output_0.pb"] = model.with_name(f"{model.stem}_output_0.pb")
            shipped.append({k: v for k, v in case.items() if k != "path"} | {"file": model.name})
            continue
        shipped.append(case)
        case_dir = Path(runner.GENERATED) / case["name"]
        for path in case_dir.rglob("*"):
            if path.is_file():
                extra[f"cases/{case['name']}/{path.relative_to(case_dir).as_posix()}"] = path
    extra["cases/cases.json"] = json.dumps(shipped).encode()
    t0 = time.perf_counter()
    code = f"BACKEND = {args.backend!r}\nVERBOSE = {bool(args.verbose)!r}\n" + IN_PAGE
    page = json.loads(run_in_chromium(code, bundle_zip(extra), timeout=args.timeout,
                                      echo=lambda s: print(s, flush=True)))
    answer = page["results"]
    expected = runner.load_expected_failures(args.backend)
    results = []
    for case in run + skipped:
        msg, seconds = answer.get(case["name"], [runner.SKIP, 0.0])
        status = "pass" if msg is None else "skip" if msg == runner.SKIP else "fail"
        reason = runner.expected_reason(case["name"], expected)
        results.append({"name": case["name"], "op_type": case["op_type"], "status": status,
                        "message": msg, "expected_failure": reason, "seconds": seconds})
        if status == "pass" and reason:
            print(f"XPASS {case['name']}: listed as an expected failure ({reason}) but passed")
    summary = runner.summarize(results, args.backend, time.perf_counter() - t0)
    reasons: dict[str, int] = {}
    for why in page["declined"].values():
        for line in why:
            reasons[line] = reasons.get(line, 0) + 1
    if reasons:
        print(f"{len(page['declined'])} case(s) of claimed op types skipped, declined at load:")
        for line, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
            print(f"  {count:4d}  {line}")
    table = CONFORMANCE / "results" / f"{args.backend}.md"
    runner.write_table(results, summary, str(table))
    if summary["unexpected_failures"]:
        print(f"{len(summary['unexpected_failures'])} unexpected failure(s): "
              + ", ".join(summary["unexpected_failures"][:20]))
    if summary["unexpected_passes"]:
        print(f"{len(summary['unexpected_passes'])} case(s) listed as expected failures now pass: "
              + ", ".join(summary["unexpected_passes"][:20]))
    print(f"per-op table: {os.path.relpath(table)}")
    print(f"conformance {args.backend}: {summary['passed']} passed, {summary['failed']} failed, "
          f"{summary['skipped']} skipped")
    return 1 if summary["unexpected_failures"] or summary["unexpected_passes"] else 0


if __name__ == "__main__":
    sys.exit(main())
