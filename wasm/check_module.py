"""Checks a built kernel module for anything unsafe for its loading routes.

    python3 check_module.py [--threads] [--relaxed] MODULE.wasm

The module is loaded into Pyodide's own memory by Emscripten's dynamic linker
(ctypes.CDLL) and into a host-owned memory by wasmtime (pywebinfer/backends/wasm/
module.py).  Both are safe only if the module

* is a side module: a dylink.0 section first (Emscripten reads it before anything else);
* imports nothing but the memory, its memory and table bases, the stack pointer and the
  function table - an imported function (memcpy, malloc, a math function) would bind to
  whatever Pyodide's libc exports, and wasmtime has none;
* imports a memory that is not shared, and never grows, initializes or drops memory:
  the host owns the memory, and a grow behind Emscripten's back detaches every numpy
  view of it;
* uses no atomics or relaxed SIMD (not in every browser Pyodide supports);
  with ``--relaxed`` (pywebinfer_kernels_relaxed.wasm, _mt_relaxed.wasm: loaded only
  where the engine validates relaxed SIMD) it may use f32x4.relaxed_madd and
  relaxed_nmadd, the FMA the kernels are built with, and no other relaxed instruction
  (the lane-selection and truncation ones give engine-dependent results);
* exports every ``pwi_*`` function the Python kernels and the worker pool call.

With ``--threads`` it checks the worker pool's variant (threads.py): the same, except
that its memory must be shared (with a declared maximum: the pool creates it), and it
still may use no atomics (the pool synchronizes in JavaScript, outside the kernels).

Runs with the standard library and wabt's wasm-objdump only (it runs before the venv).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

ALLOWED_IMPORTS = {"env.memory", "env.__memory_base", "env.__table_base", "env.__stack_pointer",
                   "env.__indirect_function_table"}
FORBIDDEN_INSTRUCTIONS = re.compile(r"\b(memory\.grow|memory\.init|data\.drop|[\w.]*atomic[\w.]*|[\w.]*relaxed[\w.]*)\b")
# what a --relaxed module may use of relaxed SIMD: fused (or not) multiply-add only
RELAXED_ALLOWED = {"f32x4.relaxed_madd", "f32x4.relaxed_nmadd"}
# wabt names every instruction it knows; an opcode it does not know (a newer proposal)
# must not slip through as an unnamed line
UNKNOWN_OPCODE = re.compile(r"\bunknown\b|<illegal>", re.IGNORECASE)
PACKAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pywebinfer", "backends", "wasm")
CALLERS = [os.path.join(PACKAGE, name) for name in ("kernels.py", "threads.py", "module.py")]


def first_section_name(data: bytes) -> str | None:
    if data[:8] != b"\0asm\1\0\0\0" or len(data) < 10 or data[8] != 0:
        return None
    pos = 9
    while data[pos] & 0x80:  # the section size, unsigned LEB128
        pos += 1
    length, pos = data[pos + 1], pos + 2
    return data[pos:pos + length].decode("utf-8", "replace")


def objdump(flag: str, path: str) -> str:
    return subprocess.run(["wasm-objdump", flag, path], check=True, capture_output=True, text=True).stdout


def problems(path: str, threads: bool = False, relaxed: bool = False) -> list[str]:
    found = []
    with open(path, "rb") as f:
        data = f.read()
    if first_section_name(data) != "dylink.0":
        found.append("the first section is not dylink.0: not a side module Emscripten can load")
    details = objdump("-x", path)
    for line in details.splitlines():
        m = re.search(r"<- (\S+)$", line)
        if m and line.lstrip().startswith("- ") and m.group(1) not in ALLOWED_IMPORTS:
            found.append(f"imports {m.group(1)} ({line.strip()})")
        if "<- env.memory" in line:
            if "shared" in line and not threads:
                found.append("imports a shared memory")
            if threads and not ("shared" in line and "max=" in line):
                found.append("imports a memory that is not shared, or has no maximum")
    if threads and "<- env.memory" not in details:
        found.append("imports no memory")
    exported = set(re.findall(r'-> "([^"]+)"', details))
    for caller in CALLERS:
        if os.path.exists(caller):
            with open(caller) as f:
                wanted = set(re.findall(r'"(pwi_\w+)"', f.read()))
            for name in sorted(wanted - exported):
                found.append(f"does not export {name}, which {os.path.basename(caller)} calls")
    bad = {}
    used_relaxed = 0
    for line in objdump("-d", path).splitlines():
        if "|" not in line:  # headers and function names, not instructions
            continue
        text = line.split("|", 1)[1]
        m = FORBIDDEN_INSTRUCTIONS.search(text)
        if m and relaxed and m.group(1) in RELAXED_ALLOWED:
            used_relaxed += 1
        elif m:
            bad[m.group(1)] = bad.get(m.group(1), 0) + 1
        elif UNKNOWN_OPCODE.search(text):
            bad["an unknown opcode"] = bad.get("an unknown opcode", 0) + 1
    found.extend(f"uses {op} ({n} times)" for op, n in sorted(bad.items()))
    if relaxed and not used_relaxed:
        # a relaxed variant built without -mrelaxed-simd would be the plain one, silently
        found.append("uses no f32x4.relaxed_madd: not built with -mrelaxed-simd")
    return found


def main(argv: list[str]) -> int:
    threads = "--threads" in argv[1:]
    relaxed = "--relaxed" in argv[1:]
    paths = [a for a in argv[1:] if a not in ("--threads", "--relaxed")]
    if len(paths) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    found = problems(paths[0], threads, relaxed)
    for p in found:
        print(f"{paths[0]}: {p}", file=sys.stderr)
    if not found:
        kind = "shared-memory side module (worker pool)" if threads else "side module"
        if relaxed:
            kind += " with relaxed-SIMD FMA"
        print(f"{paths[0]}: {kind} checked: imports, memory use and exports are safe to load")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
