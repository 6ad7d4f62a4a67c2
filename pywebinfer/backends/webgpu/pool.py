"""The buffer pool of one session, driven by the core's memory plan.

* A value the plan sizes statically (pywebinfer.passes.memory_plan) is written into its
  plan slot: one buffer per slot, made on first use at the slot's size and reused by
  every value the plan assigns to it, run after run.
* The plan does not know that Reshape-like ops are free views here (a view shares its
  source's buffer), nor values of unknown size (symbolic dimensions): a slot still held
  by a live view, and every unplanned value, take a buffer from the free list instead -
  the buffer that value had in the previous run when it is free (so a run replays the
  last one's assignment, and cached bind groups stay valid), else the smallest free
  buffer that fits, else a new one.
* A buffer goes back to its slot or to the free list when the last tensor on it is
  released (the session releases every value at its last reader); free buffers that a
  whole run did not use are destroyed at the end of it, so memory follows the shapes in
  use; ``destroy()`` (session close) destroys every buffer.
"""
from __future__ import annotations

from .tensor import Storage

ALIGN = 256  # buffer sizes are rounded up to this (and copies need multiples of 4)


def _round(nbytes: int) -> int:
    return max(ALIGN, -(-int(nbytes) // ALIGN) * ALIGN)


class BufferPool:
    def __init__(self, device, usage: int, label: str):
        self.device = device
        self.usage = usage
        self.label = label
        self.live: dict[int, Storage] = {}  # every buffer this pool made and holds
        self.free: dict[int, Storage] = {}  # idle, recyclable
        self.slots: list[Storage | None] = []
        self.slot_sizes: list[int] = []
        self.slot_of: dict[str, int] = {}
        self.previous: dict[str, int] = {}  # value name -> storage id in the last run
        self.used: set[int] = set()  # storage ids handed out during this run
        self.created = 0  # buffers made over the pool's life

    def bind_plan(self, plan) -> None:
        self.slot_sizes = list(plan.buffer_sizes)
        self.slots = [None] * len(self.slot_sizes)
        self.slot_of = plan.assignment()

    def _new(self, nbytes: int, slot: int | None = None, constant: bool = False) -> Storage:
        size = _round(nbytes)
        buffer = self.device.create_buffer(size, self.usage, self.label)
        storage = Storage(buffer, size, self, self.device.new_id(), constant)
        storage.slot = slot
        self.live[storage.id] = storage
        self.created += 1
        return storage

    def acquire(self, nbytes: int, name: str = "", avoid: set | frozenset = frozenset()) -> Storage:
        """A buffer of at least ``nbytes`` for value ``name``, none of whose ids is in
        ``avoid`` (buffers the open command stream uses cannot take a queue write)."""
        storage = self._from_slot(nbytes, name, avoid) or self._from_free(nbytes, name, avoid)
        if storage is None:
            storage = self._new(nbytes)
        if name:
            self.previous[name] = storage.id
        self.used.add(storage.id)
        return storage

    def _from_slot(self, nbytes, name, avoid):
        k = self.slot_of.get(name)
        if k is None or nbytes > self.slot_sizes[k]:
            return None
        storage = self.slots[k]
        if storage is None:
            storage = self.slots[k] = self._new(self.slot_sizes[k], slot=k)
        elif storage.refs or storage.id in avoid:
            return None
        return storage

    def _from_free(self, nbytes, name, avoid):
        last = self.free.get(self.previous.get(name, -1))
        if last is not None and nbytes <= last.nbytes <= 2 * _round(nbytes) and last.id not in avoid:
            return self.free.pop(last.id)
        fitting = [s for s in self.free.values()
                   if nbytes <= s.nbytes <= 2 * _round(nbytes) and s.id not in avoid]
        if not fitting:
            return None
        best = min(fitting, key=lambda s: (s.nbytes, s.id))
        return self.free.pop(best.id)

    def constant(self, nbytes: int) -> Storage:
        """A buffer resident until destroy() (weights, prepared constants)."""
        return self._new(nbytes, constant=True)

    def give_back(self, storage: Storage) -> None:
        """The last tensor on ``storage`` was released."""
        if storage.constant or storage.slot is not None or storage.id not in self.live:
            return
        self.free[storage.id] = storage

    def end_run(self) -> None:
        for ident in [i for i in self.free if i not in self.used]:
            storage = self.free.pop(ident)
            self.device.destroy_buffer(storage.buffer, storage.nbytes)
            del self.live[ident]
        self.used = set()

    def destroy(self) -> None:
        for storage in self.live.values():
            self.device.destroy_buffer(storage.buffer, storage.nbytes)
        self.live.clear()
        self.free.clear()
        self.slots = [None] * len(self.slot_sizes)
        self.previous.clear()

    def stats(self) -> dict:
        constant = [s for s in self.live.values() if s.constant]
        slots = [s for s in self.slots if s is not None]
        return {
            "buffers": len(self.live),
            "bytes": sum(s.nbytes for s in self.live.values()),
            "in_use_buffers": sum(1 for s in self.live.values() if s.refs and not s.constant),
            "idle_buffers": len(self.free),
            "constant_buffers": len(constant),
            "constant_bytes": sum(s.nbytes for s in constant),
            "plan_slot_buffers": len(slots),
            "plan_slot_bytes": sum(s.nbytes for s in slots),
            "created_total": self.created,
        }
