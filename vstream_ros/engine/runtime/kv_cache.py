"""`KVCache`: a static, preallocated KV cache for ONE stream, keys stored PRE-RoPE; `KVPool`: N such caches
(one per stream of a multi-stream scheduler) allocated as one block.

Layout: `k`, `v` = [layers, kv_heads, capacity, head_dim] in the model dtype, allocated once.
Positions are implicit: the entry at slot i has position i. The model rotates keys at contiguous
positions 0..length-1 on every forward (docs/design/memory.md §4), so any re-indexing — `truncate(n)`,
`gather(keep)` — is exact: after a gather the kept entries simply take positions 0..m-1.

API for the bounded-memory manager (call only between forwards):
  length, capacity, free, bytes, bytes_per_token(), truncate(n), gather(keep), append(k, v),
  read(start, end), reset(); grow(capacity) is used by eager steps only.
The model writes through `write(layer, start, k, v)` and the step functions call `advance(n)`.

Rotated keys (eager steps, `keep_rotated` set by the runtime's Steps): `rotated(layer, n, rotate)` returns the
keys of slots 0..n-1 rotated at their positions, rotating only the slots not rotated since they were last written
or re-indexed (a copy per layer, allocated on first use). RoPE is elementwise, so a key rotated once equals the same key rotated again on every
forward, bit for bit; every write, truncate, gather, append, grow and reset invalidates what it moves.

Imports: torch only.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch


class CacheFullError(RuntimeError):
    """The stream needs more positions than the preallocated capacity."""


class KVCache:
    def __init__(self, layers: int, kv_heads: int, capacity: int, head_dim: int,
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
                 buffers: tuple[torch.Tensor, torch.Tensor] | None = None):
        """`buffers`: preallocated (k, v) views of that shape (a slot of a KVPool) instead of fresh ones."""
        if min(layers, kv_heads, capacity, head_dim) <= 0:
            raise ValueError("KVCache dimensions must be positive")
        shape = (layers, kv_heads, capacity, head_dim)
        if buffers is not None:
            if tuple(buffers[0].shape) != shape or tuple(buffers[1].shape) != shape:
                raise ValueError(f"KVCache buffers must have shape {shape}")
            self.k, self.v = buffers
        else:
            self.k = torch.zeros(shape, dtype=dtype, device=device)   # pre-RoPE keys
            self.v = torch.zeros(shape, dtype=dtype, device=device)
        self._length = 0
        self.keep_rotated = False                 # set for eager steps (compiled/captured ones rotate each time)
        self._rot: torch.Tensor | None = None     # keys rotated at their slot's position (eager steps)
        self._rot_valid = [0] * layers            # per layer: slots 0..valid-1 of _rot are up to date

    # ---- sizes ----------------------------------------------------------------------------------
    @property
    def length(self) -> int:
        """Number of valid positions (slots 0..length-1)."""
        return self._length

    @property
    def capacity(self) -> int:
        return self.k.shape[2]

    @property
    def free(self) -> int:
        return self.capacity - self._length

    @property
    def bytes(self) -> int:
        """Bytes held by the preallocated buffers (constant for the cache's life)."""
        return self.k.numel() * self.k.element_size() * 2

    def bytes_per_token(self) -> int:
        layers, heads, _, hd = self.k.shape
        return 2 * layers * heads * hd * self.k.element_size()

    # ---- writes used by the model / steps ---------------------------------------------------------
    def reserve(self, n: int) -> int:
        """Check that n more positions fit; return the start slot. Raises CacheFullError."""
        if self._length + n > self.capacity:
            raise CacheFullError(
                f"KV cache full: {self._length} + {n} positions exceed capacity {self.capacity}; "
                "raise the capacity or enable the bounded-memory manager")
        return self._length

    def write(self, layer: int, start, k: torch.Tensor, v: torch.Tensor, rotated: torch.Tensor | None = None) -> None:
        """Write pre-RoPE k, v [kv_heads, T, head_dim] at slots start..start+T-1 of `layer` (and `rotated`, the
        same keys rotated at their positions, into the rotated copy when every slot before them is up to date).

        `start` is an int (eager) or a 0-d/1-element LongTensor (static shapes, CUDA graphs).
        """
        if isinstance(start, int):
            if rotated is not None and self._rot_valid[layer] >= start:
                if self._rot is None:
                    self._rot = torch.empty_like(self.k)
                self._rot[layer, :, start:start + k.shape[1]] = rotated
                self._rot_valid[layer] = start + k.shape[1]
            else:
                self._rot_valid[layer] = min(self._rot_valid[layer], start)
            self.k[layer, :, start:start + k.shape[1]] = k
            self.v[layer, :, start:start + v.shape[1]] = v
        else:
            self._rot_valid[layer] = 0
            pos = start.reshape(-1)[:1] + torch.arange(k.shape[1], device=k.device)
            self.k[layer].index_copy_(1, pos, k)
            self.v[layer].index_copy_(1, pos, v)

    def rotated(self, layer: int, n: int, rotate) -> torch.Tensor:
        """Keys of slots 0..n-1 of `layer` rotated at positions 0..n-1 [kv_heads, n, head_dim]; `rotate(keys, start,
        end)` rotates pre-RoPE keys of slots start..end-1 (called for the slots not rotated yet only)."""
        if self._rot is None:
            self._rot = torch.empty_like(self.k)
        valid = self._rot_valid[layer]
        if valid < n:
            self._rot[layer, :, valid:n] = rotate(self.k[layer, :, valid:n], valid, n)
            self._rot_valid[layer] = n
        return self._rot[layer, :, :n]

    def _invalidate(self, keep: int) -> None:
        """Rotated keys of slots >= keep are stale."""
        self._rot_valid = [min(v, keep) for v in self._rot_valid]

    def advance(self, n: int) -> None:
        """Count n freshly written positions as valid (after a successful forward)."""
        self.reserve(n)
        self._length += n

    # ---- re-indexing API (bounded-memory manager) ------------------------------------------------
    def truncate(self, n: int) -> None:
        """Keep the first n positions (0 <= n <= length)."""
        if not 0 <= n <= self._length:
            raise ValueError(f"truncate({n}) outside 0..{self._length}")
        self._invalidate(n)
        self._length = n

    def gather(self, keep: Sequence[int] | torch.Tensor) -> None:
        """Keep only slots `keep` (strictly increasing, < length), compacted to 0..m-1 in that order.

        Because keys are pre-RoPE, the next forward sees them at contiguous positions 0..m-1: this is
        exactly the "gather reference" of docs/design/memory.md §10.
        """
        idx = torch.as_tensor(keep, dtype=torch.long).reshape(-1)
        m = idx.numel()
        if m:
            if int(idx[0]) < 0 or int(idx[-1]) >= self._length:
                raise ValueError(f"gather indices must lie in 0..{self._length - 1}")
            if m > 1 and not bool((idx[1:] > idx[:-1]).all()):
                raise ValueError("gather indices must be strictly increasing (chronological order)")
            same = torch.arange(m) == idx.cpu()
            self._invalidate(m if bool(same.all()) else int(same.long().argmin()))   # slots that did not move keep
            idx = idx.to(self.k.device)
            self.k[:, :, :m] = self.k.index_select(2, idx)       # index_select copies before the write
            self.v[:, :, :m] = self.v.index_select(2, idx)
        self._invalidate(m)
        self._length = m

    def append(self, k: torch.Tensor, v: torch.Tensor) -> None:
        """Append pre-RoPE k, v [layers, kv_heads, n, head_dim] (e.g. spliced from a host tier)."""
        if k.shape != v.shape or k.dim() != 4 or k.shape[:2] != self.k.shape[:2] or k.shape[3] != self.k.shape[3]:
            raise ValueError(f"append expects [layers, kv_heads, n, head_dim] matching {tuple(self.k.shape)}, "
                             f"got {tuple(k.shape)} / {tuple(v.shape)}")
        n = k.shape[2]
        start = self.reserve(n)
        self._invalidate(start)
        self.k[:, :, start:start + n] = k.to(self.k)
        self.v[:, :, start:start + n] = v.to(self.v)
        self._length += n

    def read(self, start: int = 0, end: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Copies of pre-RoPE k, v [layers, kv_heads, end-start, head_dim] of slots start..end-1."""
        end = self._length if end is None else end
        if not 0 <= start <= end <= self._length:
            raise ValueError(f"read({start}, {end}) outside 0..{self._length}")
        return self.k[:, :, start:end].clone(), self.v[:, :, start:end].clone()

    def grow(self, capacity: int) -> None:
        """Reallocate to a larger capacity, keeping the valid entries (eager use only: it moves the buffers)."""
        if capacity <= self.capacity:
            raise ValueError(f"grow({capacity}) must exceed the capacity {self.capacity}")
        layers, heads, _, hd = self.k.shape
        for name in ("k", "v"):
            old = getattr(self, name)
            new = torch.zeros((layers, heads, capacity, hd), dtype=old.dtype, device=old.device)
            new[:, :, :self._length] = old[:, :, :self._length]
            setattr(self, name, new)
        self._rot = None
        self._invalidate(0)

    def reset(self) -> None:
        self._invalidate(0)
        self._length = 0


class KVPool:
    """One preallocated block of `slots` KV caches (several streams on one model): `cache(i)` is slot i's KVCache,
    a view into the pool (no copy). Allocated once, so the memory of N streams is known before the first frame."""

    def __init__(self, slots: int, layers: int, kv_heads: int, capacity: int, head_dim: int,
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"):
        if slots < 1:
            raise ValueError(f"a KV pool needs at least one slot, got {slots}")
        shape = (slots, layers, kv_heads, capacity, head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.dims = (layers, kv_heads, capacity, head_dim)

    @property
    def slots(self) -> int:
        return self.k.shape[0]

    def cache(self, i: int) -> KVCache:
        return KVCache(*self.dims, dtype=self.k.dtype, device=self.k.device, buffers=(self.k[i], self.v[i]))
