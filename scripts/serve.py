#!/usr/bin/env python3
"""Serve the demo page with the Pyodide distribution and the models, on localhost only.

    serve.py [--port 8000] [--open]

URL layout:  /          demo/           (the page, its worker-side Python)
             /pyodide/  dist/pyodide/   (Pyodide, the wheels, pywebinfer.js; `make dist`)
             /models/   models/         (EfficientNet-Lite0, labels, sample photos; `make models`)

Every response carries Cross-Origin-Opener-Policy: same-origin and
Cross-Origin-Embedder-Policy: require-corp (cross-origin isolation: SharedArrayBuffer for
threaded wasm, fine-grained performance.now()), and .wasm is served as application/wasm
so that WebAssembly.instantiateStreaming accepts it.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import posixpath
import sys
import threading
import urllib.parse
import webbrowser
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MOUNTS = {
    "/pyodide/": REPO_ROOT / "dist" / "pyodide",
    "/models/": REPO_ROOT / "models",
    "/": REPO_ROOT / "demo",
}
HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
TYPES = {
    ".wasm": "application/wasm",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".py": "text/x-python; charset=utf-8",
    ".onnx": "application/octet-stream",
    ".whl": "application/octet-stream",
    ".zip": "application/zip",
}


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **TYPES}

    def __init__(self, *args, mounts: dict[str, Path], quiet: bool, **kwargs):
        self.mounts = mounts
        self.quiet = quiet
        super().__init__(*args, directory=str(mounts["/"]), **kwargs)

    def translate_path(self, path: str) -> str:
        """Map a URL path into the longest matching mount; never outside it."""
        path = urllib.parse.unquote(urllib.parse.urlsplit(path).path)
        for prefix in sorted(self.mounts, key=len, reverse=True):
            if path.startswith(prefix) or path + "/" == prefix:
                root = self.mounts[prefix]
                rest = posixpath.normpath(path[len(prefix):] or ".")
                parts = [p for p in rest.split("/") if p not in ("", ".", "..")]
                return str(root.joinpath(*parts))
        raise AssertionError("the '/' mount matches every path")

    def end_headers(self) -> None:
        for name, value in HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format: str, *args) -> None:
        if not self.quiet:
            super().log_message(format, *args)


def start_server(port: int = 0, mounts: dict[str, Path] | None = None,
                 quiet: bool = True) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve in a background thread on 127.0.0.1; returns the server and its base URL."""
    mounts = dict(mounts or DEFAULT_MOUNTS)
    for prefix, root in mounts.items():
        if not root.is_dir():
            hint = {"/pyodide/": "run `make dist`", "/models/": "run `make models`"}
            raise SystemExit(f"serve: {root} is missing ({hint.get(prefix, 'check the path')})")
    handler = functools.partial(Handler, mounts=mounts, quiet=quiet)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="serve", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--open", action="store_true", help="open the page in a browser")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    server, url = start_server(args.port, quiet=args.quiet)
    print(f"serving the demo at {url} (Ctrl-C stops)", flush=True)
    if args.open:
        webbrowser.open(url)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
