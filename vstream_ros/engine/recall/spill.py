"""`DiskRing`: the recall store's frames on disk instead of host RAM — a file of fixed-size records, one per frame
slot of the store's ring, written and read back bit for bit.

The file is made in the chosen folder at the first frame (its records sized from that frame's tokens: shape and
dtype are fixed for a model), named `vstream_recall_<pid>_<random>.bin` so that several streams and processes can
share a folder, and removed when the store is closed, garbage-collected or the process exits. It grows to at most
`slots` × the record size (the store's hours × fps × one frame's bytes), then slots are overwritten in ring order.

Imports: stdlib, torch. Never ROS.
"""
from __future__ import annotations

import os
import uuid
import weakref
from pathlib import Path

import torch


def _unlink(fd: int, path: str) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
    try:
        os.unlink(path)
    except OSError:
        pass


class DiskRing:
    """`slots` records in one file under `folder` (made if missing). `put(slot, tokens)` / `get(slot)`."""

    def __init__(self, folder: str | os.PathLike, slots: int):
        self.folder, self.slots = Path(folder).expanduser(), int(slots)
        self.path: Path | None = None
        self.shape: tuple[int, ...] | None = None
        self.dtype: torch.dtype | None = None
        self.record = 0
        self.high = 0                                  # slots written so far (the file's size in records)
        self._fd: int | None = None
        self._finalizer = None

    def _open(self, tokens: torch.Tensor) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.path = self.folder / f"vstream_recall_{os.getpid()}_{uuid.uuid4().hex[:8]}.bin"
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as e:
            raise OSError(f"recall disk {self.folder}: cannot write there ({e.strerror}); choose another folder "
                          f"(memory.recall_disk / --recall-disk) or leave it empty to keep frames in RAM") from None
        self.shape, self.dtype = tuple(tokens.shape), tokens.dtype
        self.record = tokens.numel() * tokens.element_size()
        self._finalizer = weakref.finalize(self, _unlink, self._fd, str(self.path))

    def put(self, slot: int, tokens: torch.Tensor) -> None:
        """Write one frame's tokens (any device, any dtype) into `slot`."""
        if not 0 <= slot < self.slots:
            raise IndexError(f"slot {slot} outside the ring of {self.slots}")
        tokens = tokens.detach().to("cpu").contiguous()
        if self._fd is None:
            self._open(tokens)
        if tuple(tokens.shape) != self.shape or tokens.dtype != self.dtype:
            raise ValueError(f"recall frames must keep one shape and dtype: {tuple(tokens.shape)} {tokens.dtype} "
                             f"after {self.shape} {self.dtype}")
        data = tokens.reshape(-1).view(torch.uint8).numpy().tobytes()
        try:
            os.pwrite(self._fd, data, slot * self.record)
        except OSError as e:
            raise OSError(f"recall disk {self.path}: write failed ({e.strerror}); free space there or lower "
                          f"memory.recall_hours") from None
        self.high = max(self.high, slot + 1)

    def get(self, slot: int) -> torch.Tensor:
        """The tokens written to `slot`, exactly as they were given (on the CPU)."""
        if self._fd is None or not 0 <= slot < self.high:
            raise IndexError(f"slot {slot} was never written")
        buf = bytearray(os.pread(self._fd, self.record, slot * self.record))
        return torch.frombuffer(buf, dtype=self.dtype).reshape(self.shape)

    @property
    def bytes(self) -> int:
        """Bytes on disk now."""
        return self.high * self.record

    def close(self) -> None:
        """Remove the file (idempotent)."""
        if self._finalizer is not None:
            self._finalizer()
        self._fd = None
