"""WGSL programs: plain .wgsl files from shaders/wgsl/, completed by a generated preamble.

A :class:`Program` names a shader file and the *structure* of a dispatch: the kind of
each tensor binding (tensor.py), the layout of the uniform parameters, the workgroup
size and a few substitutions chosen from fixed tables (an activation, a unary op).  It
is the pipeline cache key: sizes, shapes and strides are never part of it - they reach
the shader as uniforms - so one compiled pipeline serves every shape.

The preamble the shader file is appended to declares, for a program with tensors X (read)
and Y (written) and parameters ``n: u32`` and ``shape: u32[8]``::

    @group(0) @binding(0) var<storage, read> X: array<u32>;
    @group(0) @binding(1) var<storage, read_write> Y: array<u32>;
    @group(0) @binding(2) var<uniform> P: Params;     // packed 32-bit words
    alias TX = f32;          fn ld_X(i: u32) -> TX   // element i, in its compute type
    alias TY = f32;          fn st_Y(i: u32, v: TY)  // stores wrap/round to Y's type
    const W_X: u32 = 1u;     (words per element: 2 for the 64-bit types)
    fn u_n() -> u32;         fn u_shape(i: u32) -> u32
    const WG: u32 = 64u;     fn linear_id(wid, lid, nwg) -> u32

``{{NAME}}`` in a shader file is replaced by the program's substitution for NAME (only
identifiers and numbers are accepted, so no model string reaches shader text).  A file may
pull in library files with a first-line comment ``// uses: activations.wgsl``; a program
adds more with ``libs`` (e.g. the op functions of one element type family).
"""
from __future__ import annotations

import dataclasses
import functools
import os
import re
import struct

from .tensor import COMPUTE_TYPE

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$|^-?[0-9]+(\.[0-9]*)?([eE]-?[0-9]+)?[uif]?$")
_PLACEHOLDER = re.compile(r"\{\{([A-Z_][A-Z0-9_]*)\}\}")

U32, I32, F32 = "u32", "i32", "f32"
# the uniform block of one dispatch is aligned to this (minUniformBufferOffsetAlignment)
UNIFORM_ALIGN = 256


@dataclasses.dataclass(frozen=True)
class Program:
    file: str  # in shaders/wgsl/
    tensors: tuple  # ((name, kind, writable), ...) in binding order
    params: tuple = ()  # ((name, "u32"|"i32"|"f32", count), ...); count 1: a scalar
    subst: tuple = ()  # (("NAME", "identifier"), ...)
    workgroup: int = 64
    libs: tuple = ()  # library files placed before the shader file (op functions ...)

    @property
    def param_words(self) -> int:
        return sum(count for _, _, count in self.params)

    @property
    def uniform_bytes(self) -> int:
        return 16 * max(1, -(-self.param_words // 4))

    @property
    def label(self) -> str:
        kinds = ",".join(k for _, k, _ in self.tensors)
        extra = ",".join(v for _, v in self.subst)
        return f"{self.file}[{kinds}]{'{' + extra + '}' if extra else ''}/wg{self.workgroup}"

    def pack(self, values: dict) -> bytes:
        """The uniform words of one dispatch, from values by parameter name."""
        words = []
        for name, typ, count in self.params:
            try:
                value = values[name]
            except KeyError:
                raise ValueError(f"{self.file}: no value for parameter {name!r}") from None
            items = [value] if count == 1 else list(value)
            if len(items) > count:
                raise ValueError(f"{self.file}: parameter {name!r} takes {count} values, got {len(items)}")
            items += [0] * (count - len(items))
            code = {"u32": "I", "i32": "i", "f32": "f"}[typ]
            for v in items:
                if typ == "u32":
                    v = int(v) & 0xFFFFFFFF
                elif typ == "i32":
                    v = max(-(2**31), min(2**31 - 1, int(v)))
                words.append(struct.pack("<" + code, v))
        data = b"".join(words)
        return data + bytes(self.uniform_bytes - len(data))


def shader_dir() -> str:
    """shaders/wgsl inside the installed package (the wheel has it there), else the
    repository's (a source checkout)."""
    here = os.path.dirname(os.path.abspath(__file__))
    package = os.path.dirname(os.path.dirname(here))
    for candidate in (os.path.join(package, "shaders", "wgsl"),
                      os.path.join(os.path.dirname(package), "shaders", "wgsl")):
        if os.path.isdir(candidate):
            return candidate
    raise FileNotFoundError("the WGSL shaders (shaders/wgsl) are missing from this installation")


@functools.lru_cache(maxsize=None)
def shader_file(name: str) -> str:
    if not re.match(r"^[a-z0-9_]+\.wgsl$", name):
        raise ValueError(f"not a shader file name: {name!r}")
    with open(os.path.join(shader_dir(), name), encoding="utf-8") as f:
        return f.read()


def _libraries(text: str) -> list[str]:
    first = text.split("\n", 1)[0]
    if first.startswith("// uses:"):
        return [name.strip() for name in first[len("// uses:"):].split(",") if name.strip()]
    return []


_LOAD = {
    "f32": "bitcast<f32>({B}[i])", "f16": "bitcast<f32>({B}[i])",
    "i32": "bitcast<i32>({B}[i])", "i16": "bitcast<i32>({B}[i])", "i8": "bitcast<i32>({B}[i])",
    "u32": "{B}[i]", "u16": "{B}[i]", "u8": "{B}[i]", "bool": "{B}[i]",
    "i64": "bitcast<i32>({B}[2u * i])", "u64": "{B}[2u * i]",
}
_STORE = {
    "f32": "{B}[i] = bitcast<u32>(v);",
    # round to float16 at every store: the op's result is what a float16 op gives
    "f16": "{B}[i] = bitcast<u32>(round_f16(v));",
    "i32": "{B}[i] = bitcast<u32>(v);",
    "i16": "{B}[i] = bitcast<u32>((v << 16u) >> 16u);",
    "i8": "{B}[i] = bitcast<u32>((v << 24u) >> 24u);",
    "u32": "{B}[i] = v;", "u16": "{B}[i] = v & 0xffffu;", "u8": "{B}[i] = v & 0xffu;",
    "bool": "{B}[i] = select(0u, 1u, v != 0u);",
    "i64": "{B}[2u * i] = bitcast<u32>(v); {B}[2u * i + 1u] = select(0u, 0xffffffffu, v < 0);",
    "u64": "{B}[2u * i] = v; {B}[2u * i + 1u] = 0u;",
}


# float32 -> nearest float16 (ties to even), as a float32: pack2x16float leaves values
# beyond float16's range undefined, so overflow and NaN are handled first
_ROUND_F16 = """fn round_f16(v: f32) -> f32 {
  let bits = bitcast<u32>(v);
  if ((bits & 0x7f800000u) == 0x7f800000u) { return v; }
  if (abs(v) >= 65520.0) { return select(f32_bits(0x7f800000u), f32_bits(0xff800000u), v < 0.0); }
  return unpack2x16float(pack2x16float(vec2<f32>(v, 0.0))).x;
}"""


def _preamble(program: Program) -> str:
    lines = [f"// {program.label}"]
    for binding, (name, kind, writable) in enumerate(program.tensors):
        access = "read_write" if writable else "read"
        lines.append(f"@group(0) @binding({binding}) var<storage, {access}> {name}: array<u32>;")
        words = 2 if kind in ("i64", "u64", "f64") else 1
        lines.append(f"const W_{name}: u32 = {words}u;")
        ctype = COMPUTE_TYPE[kind]
        if not ctype:
            continue  # f64: words only
        lines.append(f"alias T{name} = {ctype};")
        lines.append(f"fn ld_{name}(i: u32) -> {ctype} {{ return {_LOAD[kind].format(B=name)}; }}")
        if writable:
            lines.append(f"fn st_{name}(i: u32, v: {ctype}) {{ {_STORE[kind].format(B=name)} }}")
    vec4s = max(1, -(-program.param_words // 4))
    lines.append(f"struct Params {{ w: array<vec4<u32>, {vec4s}> }}")
    lines.append(f"@group(0) @binding({len(program.tensors)}) var<uniform> P: Params;")
    # a lane picked by selects: a dynamic index into a vector is slow on some compilers
    lines.append("fn p_word(k: u32) -> u32 { let v = P.w[k >> 2u]; let j = k & 3u; "
                 "return select(select(v.x, v.y, j == 1u), select(v.z, v.w, j == 3u), j >= 2u); }")
    # NaN and infinity from their bits at run time (constant expressions may not hold them)
    lines.append("fn f32_bits(b: u32) -> f32 { return bitcast<f32>(b); }")
    if any(kind == "f16" for _, kind, writable in program.tensors if writable):
        lines.append(_ROUND_F16)
    offset = 0
    for name, typ, count in program.params:
        cast = {"u32": "{}", "i32": "bitcast<i32>({})", "f32": "bitcast<f32>({})"}[typ]
        if count == 1:
            lines.append(f"fn u_{name}() -> {typ} {{ return {cast.format(f'p_word({offset}u)')}; }}")
        else:
            lines.append(f"fn u_{name}(i: u32) -> {typ} {{ return {cast.format(f'p_word({offset}u + i)')}; }}")
        offset += count
    lines.append(f"const WG: u32 = {int(program.workgroup)}u;")
    lines.append("fn linear_id(wid: vec3<u32>, lid: u32, nwg: vec3<u32>) -> u32 "
                 "{ return (wid.y * nwg.x + wid.x) * WG + lid; }")
    return "\n".join(lines) + "\n"


def source(program: Program) -> str:
    """The full WGSL text of a program."""
    subst = dict(program.subst)
    for key, value in subst.items():
        if not _IDENT.match(str(value)):
            raise ValueError(f"{program.file}: substitution {key}={value!r} is not an identifier or number")
    body = shader_file(program.file)
    parts = [_preamble(program)]
    for lib in (*_libraries(body), *program.libs):
        parts.append(shader_file(lib))
    parts.append(body)
    text = "\n".join(parts)

    def fill(match):
        key = match.group(1)
        if key not in subst:
            raise ValueError(f"{program.file}: no substitution for {{{{{key}}}}}")
        return str(subst[key])

    return _PLACEHOLDER.sub(fill, text)


def dispatch_grid(workgroups: int, limit: int = 65535) -> tuple[int, int, int]:
    """(x, y, 1) workgroups covering ``workgroups`` in a grid within the per-dimension
    limit; shaders recover the linear index with linear_id() and bound-check it."""
    workgroups = max(1, int(workgroups))
    if workgroups <= limit:
        return workgroups, 1, 1
    y = -(-workgroups // limit)
    return -(-workgroups // y), y, 1
