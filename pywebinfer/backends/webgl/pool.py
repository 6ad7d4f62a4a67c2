"""The texture pool of one session, driven by the core's memory plan.

* A value the plan sizes statically (pywebinfer.passes.memory_plan) is rendered into
  its plan slot's texture: one texture per slot, made on first use, big enough for
  every value the plan puts there, reused run after run.
* Reshape-like ops are free views here (a view shares its source's texture), which the
  plan does not know: a slot whose texture a live view still holds, and every value of
  unknown size (symbolic dimensions), take a texture from the free list instead - the
  smallest free one that fits, else a new one rounded up to a size class (at most 1/8
  more), so sequences of changing length reuse textures.
* A texture goes back to its slot or to the free list when the last tensor on it is
  released (the session releases every value at its last reader); free textures that a
  whole run did not use are deleted at the end of it, so memory follows the shapes in
  use; ``destroy()`` (session close) deletes every texture.
"""
from __future__ import annotations

import math

from .tensor import Texture, texels


def size_class(need: int) -> int:
    """``need`` rounded up to 2**k * (1 + j/8): reuse across nearby sizes, <= 1/8 waste."""
    if need <= 16:
        return need
    step = 1 << (need.bit_length() - 4)
    return -(-need // step) * step


class TexturePool:
    def __init__(self, context):
        self.context = context
        self.live: dict[int, Texture] = {}  # every texture this pool made and holds
        self.free: list[Texture] = []  # idle, recyclable
        self.slots: list[Texture | None] = []
        self.slot_texels: list[int] = []
        self.slot_of: dict[str, int] = {}
        self.run = 0
        self.created = 0  # textures made over the pool's life

    def bind_plan(self, plan, graph) -> None:
        """Slot sizes in texels, from the values the plan assigns to each slot (the plan
        counts bytes of the numpy type; a texture holds every type as 4-byte floats)."""
        need = [0] * len(plan.buffer_sizes)
        for name, slot in plan.assignment().items():
            vtype = graph.value_type(name)
            if vtype is not None and vtype.shape is not None and all(type(d) is int for d in vtype.shape):
                need[slot] = max(need[slot], texels(math.prod(vtype.shape)))
            else:  # no static shape after all: the byte size bounds the element count
                need[slot] = max(need[slot], texels(plan.buffer_sizes[slot]))
        self.slot_texels = need
        self.slots = [None] * len(need)
        self.slot_of = plan.assignment()

    def _new(self, capacity: int, shape: tuple[int, int] | None = None) -> Texture:
        width, height = shape or self.context.shape_for(capacity)
        handle = self.context.create_texture(width, height)
        texture = Texture(handle, width, height, self.context.new_id())
        texture.last_run = self.run
        self.live[texture.id] = texture
        self.created += 1
        return texture

    def acquire(self, count: int, name: str = "", shape: tuple[int, int] | None = None) -> Texture:
        """A texture for ``count`` elements: value ``name``'s plan slot when free, else
        the free list, else a new one; ``shape``: one of exactly that (width, height)
        (render targets drawn together), from the free list or new.  Its refs are the
        caller's to raise."""
        need = texels(count)
        if shape is not None:
            for texture in self.free:
                if (texture.width, texture.height) == shape:
                    self.free.remove(texture)
                    texture.last_run = self.run
                    return texture
            return self._new(need, shape)
        slot = self.slot_of.get(name)
        if slot is not None and need <= self.slot_texels[slot]:
            texture = self.slots[slot]
            if texture is None:
                texture = self._new(self.slot_texels[slot])
                texture.slot = slot
                self.slots[slot] = texture
            if texture.refs == 0:
                texture.last_run = self.run
                return texture
        fitting = [t for t in self.free if need <= t.capacity <= 2 * need + 64]
        if fitting:
            best = min(fitting, key=lambda t: (t.capacity, t.id))
            self.free.remove(best)
            best.last_run = self.run
            return best
        return self._new(size_class(need))

    def resident(self, count: int) -> Texture:
        """A texture of its own for a weight or a kept output: never recycled."""
        texture = self._new(texels(count))
        texture.resident = True
        return texture

    def detach(self, texture: Texture) -> None:
        """Make a pooled texture resident (an output handed to the caller): its slot gets
        a new texture next time."""
        if texture.slot is not None:
            self.slots[texture.slot] = None
            texture.slot = None
        texture.resident = True

    def give_back(self, texture: Texture) -> None:
        """The last tensor on ``texture`` was released."""
        if texture.resident:
            self._delete(texture)
        elif texture.slot is None:
            self.free.append(texture)

    def end_run(self) -> None:
        for texture in [t for t in self.free if t.last_run < self.run]:
            self.free.remove(texture)
            self._delete(texture)
        self.run += 1

    def _delete(self, texture: Texture) -> None:
        if self.live.pop(texture.id, None) is not None:
            self.context.delete_texture(texture.handle)

    def destroy(self) -> None:
        for texture in self.live.values():
            self.context.delete_texture(texture.handle)
        self.live.clear()
        self.free.clear()
        self.slots = [None] * len(self.slots)

    def stats(self) -> dict:
        return {"textures": len(self.live), "bytes": sum(t.nbytes for t in self.live.values()),
                "free": len(self.free), "slots": sum(t is not None for t in self.slots),
                "resident": sum(t.resident for t in self.live.values()),
                "created": self.created}
