"""Checks a built kernel module for anything unsafe for its loading routes.

    python3 check_module.py MODULE.wasm

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
* exports every ``pwi_*`` function the Python kernels call.

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
KERNELS_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pywebinfer", "backends", "wasm",
                          "kernels.py")


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


def problems(path: str) -> list[str]:
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
        if "<- env.memory" in line and "shared" in line:
            found.append("imports a shared memory")
    exported = set(re.findall(r'-> "([^"]+)"', details))
    if os.path.exists(KERNELS_PY):
        with open(KERNELS_PY) as f:
            wanted = set(re.findall(r'"(pwi_\w+)"', f.read()))
        for name in sorted(wanted - exported):
            found.append(f"does not export {name}, which kernels.py calls")
    bad = {}
    for line in objdump("-d", path).splitlines():
        m = FORBIDDEN_INSTRUCTIONS.search(line.split("|", 1)[-1])
        if m:
            bad[m.group(1)] = bad.get(m.group(1), 0) + 1
    found.extend(f"uses {op} ({n} times)" for op, n in sorted(bad.items()))
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    found = problems(argv[1])
    for p in found:
        print(f"{argv[1]}: {p}", file=sys.stderr)
    if not found:
        print(f"{argv[1]}: side module checked: imports, memory use and exports are safe to load")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
