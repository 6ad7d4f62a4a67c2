"""GLSL ES 3.00 programs: a shader file from shaders/glsl/ plus a generated preamble.

A :class:`Program` is the structure of a draw, never its sizes: the shader file, its
input textures and how each is read, the output's rank and element kind, the names of
its parameters and a few substitutions.  Sizes, strides and attribute values are
parameters (uniforms), so one compiled program serves every shape; the program is the
key of the context's program cache.

Every draw renders one output texel a fragment (tensor.py: texel ``t`` holds elements
``4t .. 4t+3``).  A shader file defines ``vec4 run(int t)``, the output texel ``t``; the
generated ``main`` finds ``t`` from the fragment's position, skips texels past the end
and stores ``run(t)`` rounded to the output's kind (float16, narrow integers, bool).
A program with ``outs`` > 1 renders to that many textures of one shape at once (multiple
render targets): its file defines ``void run(int t, out vec4 v[OUTS])``, texel ``t`` of
each, so a fragment can share its reads among more outputs.

The preamble gives each shader file (``X`` is an input's name):

    vec4 X_texel(int t)     texel t of X         float X_at(int i)   element i of X
    vec4 X_load4(int t)     the four elements of X that meet output texel t, and
    float X_elem(int o)     the element of X that meets output element o, by access:
                              "same"   X has the output's shape (one texel fetch)
                              "bcast"  X broadcast to the output's shape (numpy rules):
                                       int X_index(int o) maps output element o to X's
                              "scalar" X has one element
                              "any"    no X_load4: the shader indexes X itself
    int u_NAME() / int u_NAME(int i) / float u_NAME() ...   the program's parameters
    int out_coord(int o, int d)  coordinate d of output element o (when rank > 0)
    int u_out_count()        elements in the output
    RANK                     the output's rank (a #define; loops over it unroll)

``{{NAME}}`` in a shader file is replaced by the program's substitution for NAME; only
identifiers and numbers are accepted, and every value comes from the kernels' own
tables, so no string from a model reaches shader text.  A file may pull in library
files with a first-line comment ``// uses: activations.glsl, math.glsl``.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import re

_VALUE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$|^-?[0-9]+(\.[0-9]*)?([eE]-?[0-9]+)?$")
_PLACEHOLDER = re.compile(r"\{\{([A-Z_][A-Z0-9_]*)\}\}")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")

INT, FLOAT = "int", "float"
ACCESS = ("any", "same", "bcast", "scalar")

# how run()'s result is stored for each output kind (tensor.py)
_STORE = {
    "f32": "return v;",
    # integers: kernels give whole numbers (truncating where the op does); the rounding
    # only removes float error (a float pow of integers); narrow types wrap
    "int": "return roundEven(v);",
    "f16": "return to_half4(v);",
    "i8": "v = roundEven(v); return v - 256.0 * floor((v + 128.0) / 256.0);",
    "u8": "v = roundEven(v); return v - 256.0 * floor(v / 256.0);",
    "i16": "v = roundEven(v); return v - 65536.0 * floor((v + 32768.0) / 65536.0);",
    "u16": "v = roundEven(v); return v - 65536.0 * floor(v / 65536.0);",
    "bool": "return vec4(notEqual(v, vec4(0.0)));",
}

# parameters every program has, first: the draw's extent
_FIXED = (("out_texels", INT, 1), ("out_width", INT, 1), ("out_count", INT, 1))


@dataclasses.dataclass(frozen=True)
class Program:
    file: str  # in shaders/glsl/
    inputs: tuple = ()  # ((name, access), ...) in texture-unit order
    rank: int = 0  # the output's rank for out_coord / broadcasting (0: none)
    params: tuple = ()  # ((name, "int" | "float", count), ...)
    subst: tuple = ()  # (("NAME", "value"), ...)
    out: str = "f32"  # the output's kind
    outs: int = 1  # render targets: >1 means run(int t, out vec4 v[outs]), one texel each

    def __post_init__(self):
        for name, access in self.inputs:
            if not _NAME.match(name) or access not in ACCESS:
                raise ValueError(f"{self.file}: bad input {name!r} ({access!r})")
            if access == "bcast" and not self.rank:
                raise ValueError(f"{self.file}: broadcast input {name} needs the output rank")
        if self.out not in _STORE:
            raise ValueError(f"{self.file}: unknown output kind {self.out!r}")

    @property
    def all_params(self) -> tuple:
        """Every parameter in uniform order: the fixed ones, the output's shape and
        strides, each input's texture width (as a mask and 2 / width), each broadcast input's strides, then
        the program's own."""
        out = list(_FIXED)
        if self.rank:
            out += [("oshape", INT, self.rank), ("ostride", INT, self.rank)]
        out += [(f"{name}_wmask", INT, 1) for name, _ in self.inputs]
        out += [(f"{name}_winv", FLOAT, 1) for name, _ in self.inputs]
        out += [(f"{name}_bstride", INT, self.rank) for name, access in self.inputs if access == "bcast"]
        return tuple(out) + tuple(self.params)

    @property
    def label(self) -> str:
        ins = ",".join(f"{n}:{a}" for n, a in self.inputs)
        extra = ",".join(f"{k}={v}" for k, v in self.subst)
        outs = f"x{self.outs}" if self.outs > 1 else ""
        return f"{self.file}({ins})r{self.rank}->{self.out}{outs}" + (f"{{{extra}}}" if extra else "")

    def pack(self, values: dict) -> tuple[list[int], list[float]]:
        """The int and float uniform words of one draw, by parameter name, each list
        padded to whole vec4s."""
        ints: list[int] = []
        floats: list[float] = []
        for name, typ, count in self.all_params:
            try:
                value = values[name]
            except KeyError:
                raise ValueError(f"{self.file}: no value for parameter {name!r}") from None
            items = list(value) if isinstance(value, (list, tuple)) else [value]
            if len(items) > count:
                raise ValueError(f"{self.file}: parameter {name!r} takes {count} values, got {len(items)}")
            items += [0] * (count - len(items))
            if typ == INT:
                for v in items:
                    v = int(v)
                    if not -(2**31) <= v < 2**31:
                        raise ValueError(f"{self.file}: parameter {name!r} = {v} does not fit 32 bits")
                    ints.append(v)
            else:
                floats.extend(float(v) for v in items)
        ints += [0] * (-len(ints) % 4)
        floats += [0.0] * (-len(floats) % 4)
        return ints, floats


def shader_dir() -> str:
    """shaders/glsl inside the installed package (the wheel has it there), else the
    repository's (a source checkout)."""
    here = os.path.dirname(os.path.abspath(__file__))
    package = os.path.dirname(os.path.dirname(here))
    for candidate in (os.path.join(package, "shaders", "glsl"),
                      os.path.join(os.path.dirname(package), "shaders", "glsl")):
        if os.path.isdir(candidate):
            return candidate
    raise FileNotFoundError("the GLSL shaders (shaders/glsl) are missing from this installation")


@functools.lru_cache(maxsize=None)
def shader_file(name: str) -> str:
    if not re.match(r"^[a-z0-9_]+\.glsl$", name):
        raise ValueError(f"not a shader file name: {name!r}")
    with open(os.path.join(shader_dir(), name), encoding="utf-8") as f:
        return f.read()


def _libraries(text: str) -> list[str]:
    first = text.split("\n", 1)[0]
    if first.startswith("// uses:"):
        return [name.strip() for name in first[len("// uses:"):].split(",") if name.strip()]
    return []


def _accessor(name: str, typ: str, count: int, offset: int) -> str:
    get = "p_int" if typ == INT else "p_float"
    indexed = f"{typ} u_{name}(int i) {{ return {get}({offset} + i); }}"
    if count == 1:  # also indexed, for per-dimension arrays of rank 1
        return f"{typ} u_{name}() {{ return {get}({offset}); }}\n{indexed}"
    return indexed


def _preamble(program: Program) -> str:
    ints = sum(c for _, t, c in program.all_params if t == INT)
    floats = sum(c for _, t, c in program.all_params if t == FLOAT)
    lines = ["#version 300 es", "precision highp float;", "precision highp int;",
             "precision highp sampler2D;", f"// {program.label}",
             f"#define RANK {program.rank}",
             f"uniform ivec4 u_i[{max(1, -(-ints // 4))}];",
             "int p_int(int k) { return u_i[k >> 2][k & 3]; }"]
    if floats:
        lines += [f"uniform vec4 u_f[{-(-floats // 4)}];",
                  "float p_float(int k) { return u_f[k >> 2][k & 3]; }"]
    if program.outs == 1:
        lines.append("out vec4 o_value;")
    else:
        lines += [f"layout(location = {k}) out vec4 o_value{k};" for k in range(program.outs)]
    offsets = {INT: 0, FLOAT: 0}
    for name, typ, count in program.all_params:
        lines.append(_accessor(name, typ, count, offsets[typ]))
        offsets[typ] += count
    if program.rank:
        lines.append("int out_coord(int o, int d) { return (o / u_ostride(d)) % u_oshape(d); }")
    for name, access in program.inputs:
        lines += [
            f"uniform highp sampler2D {name};",
            # the row as a float product, (t >> 1) * (2 / width), exact for the 2**25
            # texels a texture holds at most (device.py), costs SwiftShader far less than
            # a shift by a uniform amount, which it does lane by lane
            f"vec4 {name}_texel(int t) {{ "
            f"return texelFetch({name}, ivec2(t & u_{name}_wmask(), int(float(t >> 1) * u_{name}_winv())), 0); }}",
            f"float {name}_at(int i) {{ return {name}_texel(i >> 2)[i & 3]; }}",
        ]
        if access == "same":
            lines += [f"vec4 {name}_load4(int t) {{ return {name}_texel(t); }}",
                      f"float {name}_elem(int o) {{ return {name}_at(o); }}"]
        elif access == "scalar":
            lines += [f"vec4 {name}_load4(int t) {{ return vec4({name}_at(0)); }}",
                      f"float {name}_elem(int o) {{ return {name}_at(0); }}"]
        elif access == "bcast":
            lines += [
                f"int {name}_index(int o) {{ int i = 0; for (int d = 0; d < RANK; d++) "
                f"i += out_coord(o, d) * u_{name}_bstride(d); return i; }}",
                f"float {name}_elem(int o) {{ return {name}_at({name}_index(o)); }}",
                f"vec4 {name}_load4(int t) {{ int o = 4 * t; return vec4({name}_at({name}_index(o)), "
                f"{name}_at({name}_index(o + 1)), {name}_at({name}_index(o + 2)), "
                f"{name}_at({name}_index(o + 3))); }}",
            ]
    return "\n".join(lines) + "\n"


_MAIN = """
vec4 store_value(vec4 v) {{ {store} }}

void main() {{
  int t = int(gl_FragCoord.y) * u_out_width() + int(gl_FragCoord.x);
  if (t >= u_out_texels()) {{ o_value = vec4(0.0); return; }}
  o_value = store_value(run(t));
}}
"""


# several render targets: texel t of each, from one run (the targets share a shape)
_MAIN_MULTI = """
vec4 store_value(vec4 v) {{ {store} }}

void main() {{
  int t = int(gl_FragCoord.y) * u_out_width() + int(gl_FragCoord.x);
  vec4 v[{outs}];
  if (t < u_out_texels()) {{
    run(t, v);
  }} else {{
    for (int k = 0; k < {outs}; k++) v[k] = vec4(0.0);
  }}
  {stores}
}}
"""


def source(program: Program) -> str:
    """The full fragment shader text of a program."""
    subst = dict(program.subst)
    for key, value in subst.items():
        if not _VALUE.match(str(value)):
            raise ValueError(f"{program.file}: substitution {key}={value!r} is not an identifier or number")
    body = shader_file(program.file)
    parts = [_preamble(program), shader_file("common.glsl")]
    seen: list[str] = []

    def add_libraries(text: str) -> None:
        for lib in _libraries(text):
            if lib not in seen:
                seen.append(lib)
                lib_text = shader_file(lib)
                add_libraries(lib_text)
                parts.append(lib_text)

    add_libraries(body)
    parts.append(body)
    if program.outs == 1:
        parts.append(_MAIN.format(store=_STORE[program.out]))
    else:
        stores = " ".join(f"o_value{k} = store_value(v[{k}]);" for k in range(program.outs))
        parts.append(_MAIN_MULTI.format(store=_STORE[program.out], outs=program.outs, stores=stores))
    text = "\n".join(parts)

    def fill(match):
        key = match.group(1)
        if key not in subst:
            raise ValueError(f"{program.file}: no substitution for {{{{{key}}}}}")
        return str(subst[key])

    return _PLACEHOLDER.sub(fill, text)


VERTEX_SHADER = """#version 300 es
// one triangle that covers the viewport: no vertex buffers
void main() {
  vec2 p = vec2(float((gl_VertexID & 1) * 4 - 1), float((gl_VertexID & 2) * 2 - 1));
  gl_Position = vec4(p, 0.0, 1.0);
}
"""
