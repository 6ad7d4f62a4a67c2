"""`make conformance`: run the conformance suite on one backend and print its line.

    python tests/conformance/run.py [--backend numpy] [-k REGEX] [--no-light] [-v]

Writes a per-op table to tests/conformance/results/<backend>.md (and .json) and ends
with exactly one line `conformance BACKEND: N passed, M failed, K skipped`.  Exits
non-zero when a case fails that expected_failures.txt does not list, or a listed case
passes (the list must stay true).
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runner import HERE, run_suite  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default=os.environ.get("BACKEND", "numpy"))
    ap.add_argument("-k", dest="pattern", help="only cases whose name matches this regex")
    ap.add_argument("--no-light", action="store_true", help="skip the light CNN model graphs")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    table = os.path.join(HERE, "results", f"{args.backend}.md")
    s = run_suite(args.backend, args.pattern, light=not args.no_light, table_path=table,
                  verbose=args.verbose)
    if s["unexpected_failures"]:
        print(f"{len(s['unexpected_failures'])} unexpected failure(s): "
              + ", ".join(s["unexpected_failures"][:20]))
    if s["unexpected_passes"]:
        print(f"{len(s['unexpected_passes'])} case(s) listed as expected failures now pass: "
              + ", ".join(s["unexpected_passes"][:20]))
    print(f"per-op table: {os.path.relpath(table)}")
    print(f"conformance {args.backend}: {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped")
    return 1 if s["unexpected_failures"] or s["unexpected_passes"] else 0


if __name__ == "__main__":
    sys.exit(main())
