"""The WebGL2 context: textures, the program cache, draws and readbacks.

One context per page, shared by every session (browsers allow a page only a few live
WebGL contexts): a session owns only its textures and its framebuffer, which
``close()`` deletes, so the context and its compiled programs serve the next session.
When the context is lost (the browser reclaims the GPU, or a page calls
WEBGL_lose_context), every session on it fails with :class:`WebGLContextLostError`, and
the next session gets a fresh context.

Only this module touches the JavaScript API (through Pyodide's FFI); each draw is one
call into a small JavaScript helper, so a draw costs a single crossing.
"""
from __future__ import annotations

import numpy as np

from .shaders import VERTEX_SHADER, Program, source


class WebGLUnavailableError(RuntimeError):
    """WebGL2 cannot be used here (not in a browser, no WebGL2, no float render targets)."""


class WebGLContextLostError(RuntimeError):
    """The WebGL2 context was lost: its textures and programs are gone."""


LOST_MESSAGE = ("webgl: the WebGL2 context was lost (the browser reclaimed the GPU, or "
                "WEBGL_lose_context was used); this session's textures are gone: close it and "
                "create a new InferenceSession, which gets a new context")

# widest texture the pool makes (a power of two; textures are about square up to it)
MAX_WIDTH = 4096
# the most texels a texture holds: shaders find a texel's row in float32 (shaders.py)
MAX_TEXELS = 1 << 25

_context: "Context | None" = None


def _js():
    try:
        import js  # noqa: PLC0415  (only inside Pyodide)
        from pyodide.code import run_js  # noqa: PLC0415
        from pyodide.ffi import create_proxy, to_js  # noqa: PLC0415
    except ImportError:
        raise WebGLUnavailableError("not running in a browser (Pyodide): no WebGL2") from None
    return js, run_js, create_proxy, to_js


def available() -> bool:
    """Whether this page can give a WebGL2 context with float render targets."""
    try:
        shared_context()
    except WebGLUnavailableError:
        return False
    return True


def context_memory() -> dict:
    """Textures and framebuffers alive on the page's context, all sessions together."""
    if _context is None or _context.lost:
        return {"textures": 0, "framebuffers": 0}
    return {"textures": _context.live_textures, "framebuffers": _context.live_framebuffers}


def shared_context() -> "Context":
    """The page's context, created on first use and again after a loss."""
    global _context
    if _context is None or _context.lost:
        _context = Context()
    return _context


_HELPERS = r"""
(() => {
// what every draw sets before its targets: program, input textures, uniforms, framebuffer
function bindInputs(gl, fb, program, locI, ints, locF, floats, textures) {
  gl.useProgram(program);
  for (let i = 0; i < textures.length; i++) {
    gl.activeTexture(gl.TEXTURE0 + i);
    gl.bindTexture(gl.TEXTURE_2D, textures[i]);
  }
  gl.uniform4iv(locI, ints);
  if (locF) gl.uniform4fv(locF, floats);
  gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
}
return {
  compile(gl, vertex, source, samplers) {
    const fs = gl.createShader(gl.FRAGMENT_SHADER);
    gl.shaderSource(fs, source);
    gl.compileShader(fs);
    if (!gl.getShaderParameter(fs, gl.COMPILE_STATUS)) {
      const log = gl.getShaderInfoLog(fs);
      gl.deleteShader(fs);
      return [null, null, null, "compile: " + log];
    }
    const p = gl.createProgram();
    gl.attachShader(p, vertex);
    gl.attachShader(p, fs);
    gl.linkProgram(p);
    gl.deleteShader(fs);
    if (!gl.getProgramParameter(p, gl.LINK_STATUS)) {
      const log = gl.getProgramInfoLog(p);
      gl.deleteProgram(p);
      return [null, null, null, "link: " + log];
    }
    gl.useProgram(p);
    samplers.forEach((name, unit) => gl.uniform1i(gl.getUniformLocation(p, name), unit));
    return [p, gl.getUniformLocation(p, "u_i"), gl.getUniformLocation(p, "u_f"), ""];
  },
  texture(gl, width, height) {
    const t = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, t);
    gl.texStorage2D(gl.TEXTURE_2D, 1, gl.RGBA32F, width, height);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    return t;
  },
  write(gl, texture, width, rows, data) {
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, width, rows, gl.RGBA, gl.FLOAT, data);
  },
  draw(gl, fb, program, locI, ints, locF, floats, textures, out, width, rows) {
    bindInputs(gl, fb, program, locI, ints, locF, floats, textures);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, out, 0);
    gl.viewport(0, 0, width, rows);
    gl.drawArrays(gl.TRIANGLES, 0, 3);
  },
  drawMulti(gl, fb, program, locI, ints, locF, floats, textures, outs, width, rows) {
    bindInputs(gl, fb, program, locI, ints, locF, floats, textures);
    const targets = [];
    for (let k = 0; k < outs.length; k++) {
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0 + k, gl.TEXTURE_2D, outs[k], 0);
      targets.push(gl.COLOR_ATTACHMENT0 + k);
    }
    gl.drawBuffers(targets);
    gl.viewport(0, 0, width, rows);
    gl.drawArrays(gl.TRIANGLES, 0, 3);
    // back to one target: a texture left attached would be a feedback loop when read
    for (let k = 1; k < outs.length; k++) {
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0 + k, gl.TEXTURE_2D, null, 0);
    }
    gl.drawBuffers([gl.COLOR_ATTACHMENT0]);
  },
  read(gl, fb, texture, width, rows, dest) {
    gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, texture, 0);
    gl.readPixels(0, 0, width, rows, gl.RGBA, gl.FLOAT, dest);
  },
};
})()
"""


class Compiled:
    __slots__ = ("js", "loc_ints", "loc_floats", "program")

    def __init__(self, js_program, loc_ints, loc_floats, program: Program):
        self.js = js_program
        self.loc_ints = loc_ints
        self.loc_floats = loc_floats
        self.program = program


class Context:
    """A WebGL2 context with float render targets, its compiled programs and helpers."""

    def __init__(self):
        js, run_js, create_proxy, to_js = _js()
        self._create_proxy = create_proxy
        self._to_js = to_js
        if hasattr(js, "OffscreenCanvas"):
            canvas = js.OffscreenCanvas.new(1, 1)
        elif hasattr(js, "document"):
            canvas = js.document.createElement("canvas")
        else:
            raise WebGLUnavailableError("no OffscreenCanvas or document here (Node?): no WebGL2")
        options = to_js({"alpha": False, "antialias": False, "depth": False, "stencil": False,
                         "preserveDrawingBuffer": False, "powerPreference": "high-performance"},
                        dict_converter=js.Object.fromEntries)
        gl = canvas.getContext("webgl2", options)
        if not gl:
            raise WebGLUnavailableError("this browser gives no WebGL2 context")
        if not gl.getExtension("EXT_color_buffer_float"):
            raise WebGLUnavailableError("WebGL2 without EXT_color_buffer_float: float textures "
                                        "cannot be rendered to")
        self.canvas = canvas
        self.gl = gl
        self.max_size = int(gl.getParameter(gl.MAX_TEXTURE_SIZE))
        self.max_units = int(gl.getParameter(gl.MAX_TEXTURE_IMAGE_UNITS))
        # render targets a draw may fill at once (WebGL2 promises 4)
        self.max_targets = min(int(gl.getParameter(gl.MAX_DRAW_BUFFERS)),
                               int(gl.getParameter(gl.MAX_COLOR_ATTACHMENTS)))
        self.max_width = min(MAX_WIDTH, self.max_size)
        self.renderer = str(gl.getParameter(gl.RENDERER))
        self.helpers = run_js(_HELPERS)
        vertex = gl.createShader(gl.VERTEX_SHADER)
        gl.shaderSource(vertex, VERTEX_SHADER)
        gl.compileShader(vertex)
        self.vertex = vertex
        gl.bindVertexArray(gl.createVertexArray())  # the triangle needs no attributes
        gl.disable(gl.DITHER)
        self.programs: dict[Program, Compiled] = {}
        self.compiled = 0  # programs compiled on this context, all sessions together
        self.live_textures = 0
        self.live_framebuffers = 0
        self._next_id = 0
        self._lost_event = False

        def on_lost(_event):
            self._lost_event = True

        self._on_lost = create_proxy(on_lost)
        canvas.addEventListener("webglcontextlost", self._on_lost)

    @property
    def lost(self) -> bool:
        return self._lost_event or bool(self.gl.isContextLost())

    def check(self) -> None:
        if self.lost:
            raise WebGLContextLostError(LOST_MESSAGE)

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # ---- programs ------------------------------------------------------------------

    def program(self, program: Program) -> tuple[Compiled, bool]:
        """The compiled program, and whether it was compiled just now."""
        found = self.programs.get(program)
        if found is not None:
            return found, False
        if len(program.inputs) > self.max_units:
            raise ValueError(f"webgl: {program.label} reads {len(program.inputs)} textures; "
                             f"this context binds at most {self.max_units}")
        text = source(program)
        samplers = self._to_js([name for name, _ in program.inputs])
        js_program, loc_ints, loc_floats, error = self.helpers.compile(self.gl, self.vertex, text, samplers)
        if error:
            self.check()
            numbered = "\n".join(f"{i + 1:4} {line}" for i, line in enumerate(text.split("\n")))
            raise RuntimeError(f"webgl: {program.label} failed to build ({error})\n{numbered}")
        compiled = Compiled(js_program, loc_ints, loc_floats, program)
        self.programs[program] = compiled
        self.compiled += 1
        return compiled, True

    # ---- textures ------------------------------------------------------------------

    def shape_for(self, capacity: int) -> tuple[int, int]:
        """(width, height) of a texture of at least ``capacity`` texels.  Widths are powers
        of two, so shaders find a texel's column with a mask and its row as half the
        texel's index times 2 / width, exact in float32 up to MAX_TEXELS (an integer
        division or a shift by a uniform costs far more, most on SwiftShader)."""
        # about square: SwiftShader shades 2x2 quads and hands rows out to its threads,
        # so a texture one row high would waste half of each quad and all but one core
        width = min(1 << (max(capacity - 1, 0).bit_length() + 1) // 2, self.max_width)
        height = -(-capacity // width)
        if height > self.max_size or capacity > MAX_TEXELS:
            raise ValueError(f"webgl: a tensor of {4 * capacity} elements exceeds the largest "
                             f"texture ({self.max_width} x {min(self.max_size, MAX_TEXELS // self.max_width)} "
                             f"texels of 4 floats)")
        return width, height

    def create_texture(self, width: int, height: int):
        self.live_textures += 1
        return self.helpers.texture(self.gl, width, height)

    def delete_texture(self, handle) -> None:
        self.live_textures -= 1
        self.gl.deleteTexture(handle)

    def create_framebuffer(self):
        self.live_framebuffers += 1
        return self.gl.createFramebuffer()

    def delete_framebuffer(self, handle) -> None:
        self.live_framebuffers -= 1
        self.gl.deleteFramebuffer(handle)

    def write(self, handle, width: int, rows: int, data: np.ndarray) -> None:
        """Rows 0..rows-1 of a texture from ``data`` (float32, 4 * width * rows values)."""
        proxy = self._create_proxy(data)
        view = proxy.getBuffer("f32")
        try:
            self.helpers.write(self.gl, handle, width, rows, view.data)
        finally:
            view.release()
            proxy.destroy()

    def read(self, framebuffer, handle, width: int, rows: int) -> np.ndarray:
        """Rows 0..rows-1 of a texture as float32 values (readPixels waits for the GPU)."""
        out = np.empty(4 * width * rows, np.float32)
        proxy = self._create_proxy(out)
        view = proxy.getBuffer("f32")
        try:
            self.helpers.read(self.gl, framebuffer, handle, width, rows, view.data)
        finally:
            view.release()
            proxy.destroy()
        self.check()  # a lost context reads zeros: never hand those back
        return out

    def draw(self, framebuffer, compiled: Compiled, ints: list, floats: list, textures: list,
             out_handle, width: int, rows: int) -> None:
        to_js = self._to_js
        self.helpers.draw(self.gl, framebuffer, compiled.js, compiled.loc_ints, to_js(ints),
                          compiled.loc_floats, to_js(floats), to_js(textures), out_handle,
                          width, rows)

    def draw_multi(self, framebuffer, compiled: Compiled, ints: list, floats: list, textures: list,
                   out_handles: list, width: int, rows: int) -> None:
        """One draw into several textures of one shape (multiple render targets; WebGL
        wants attachments of one size)."""
        to_js = self._to_js
        self.helpers.drawMulti(self.gl, framebuffer, compiled.js, compiled.loc_ints, to_js(ints),
                               compiled.loc_floats, to_js(floats), to_js(textures),
                               to_js(out_handles), width, rows)

    def errors(self) -> list[int]:
        """GL error codes raised since the last call (none expected)."""
        gl = self.gl
        found = []
        while len(found) < 8:
            code = int(gl.getError())
            if code == 0 or code == gl.CONTEXT_LOST_WEBGL:
                break
            found.append(code)
        return found
