"""The recall tier on disk (engine/recall/spill.py, `memory.recall_disk` / `--recall-disk`): the frames' tokens go
to one file per stream and come back bit for bit, bounded like the RAM ring, the file removed when the store goes;
answers over a disk store equal those over RAM; an unusable folder or one without room is refused in one line."""
from __future__ import annotations

import gc

import pytest
import torch

from vstream_ros.engine.config import StreamConfig
from vstream_ros.engine.events import Response
from vstream_ros.engine.memory import BoundedBackend, MemoryConfig
from vstream_ros.engine.recall import RecallConfig, RecallStore, retrieve
from vstream_ros.engine.recall.spill import DiskRing
from vstream_ros.engine.runtime.runtime_backend import RuntimeBackend
from vstream_ros.engine.session import StreamSession
from vstream_ros.testing.tiny import random_vision_tokens


def _fill(store: RecallStore, toks: torch.Tensor, fps: float = 2.0) -> None:
    for k in range(toks.shape[0]):
        store.add_frame(k / fps, toks[k])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_disk_store_gives_back_the_frames_of_the_ram_store_bit_for_bit_within_its_ring(tmp_path, dtype):
    toks = random_vision_tokens(40, seed=5).to(dtype)
    cfg = dict(hours=10 / 3600)                           # 20 frames at 2 fps
    ram, disk = RecallStore(RecallConfig(**cfg), 2.0), RecallStore(RecallConfig(**cfg, disk=str(tmp_path / "d")), 2.0)
    _fill(ram, toks)
    _fill(disk, toks)
    assert disk.frames == ram.frames == 20 and disk.dropped == ram.dropped == 20 and disk.oldest_t == 10.0
    record = toks[0].numel() * toks[0].element_size()
    assert ram.bytes == 20 * record and disk.bytes == 0 and disk.disk_bytes == 20 * record and ram.disk_bytes == 0
    (path,) = (tmp_path / "d").iterdir()
    assert path.stat().st_size == 20 * record             # the ring wrapped: slots overwritten, not appended
    a, b = ram.frames_between(0.0, 30.0, 2.0), disk.frames_between(0.0, 30.0, 2.0)
    assert [t for t, _ in a] == [t for t, _ in b] == [k / 2 for k in range(20, 40)]
    assert all(x.dtype == y.dtype == dtype and torch.equal(x, y) for (_, x), (_, y) in zip(a, b))
    assert torch.equal(b[0][1], toks[20])
    disk.close()
    assert not path.exists()


def test_disk_file_goes_with_the_store_and_retrieval_is_the_same(tmp_path):
    toks = random_vision_tokens(30, seed=6)
    ram, disk = RecallStore(RecallConfig(), 2.0), RecallStore(RecallConfig(disk=str(tmp_path)), 2.0)
    for store in (ram, disk):
        _fill(store, toks)
        store.add_line(5.0, "narration", "C picks up the red cube.")
    q = "Where did I put the red cube?"
    x, y = retrieve(q, ram, 14.5), retrieve(q, disk, 14.5)
    assert x.items == y.items and x.evidence == y.evidence and torch.equal(x.vision, y.vision)
    assert len(list(tmp_path.iterdir())) == 1
    del disk, store, y
    gc.collect()
    assert not list(tmp_path.iterdir())                   # garbage-collected: the file is removed


def test_disk_ring_refuses_another_shape_and_an_unusable_folder(tmp_path):
    ring = DiskRing(tmp_path, 4)
    ring.put(0, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="one shape and dtype"):
        ring.put(1, torch.zeros(3, 3))
    with pytest.raises(IndexError):
        ring.get(2)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(OSError, match=r"recall disk .*a_file.*--recall-disk"):
        DiskRing(blocker / "sub", 4).put(0, torch.zeros(2, 3))


def test_answers_over_a_disk_store_equal_those_over_ram(tiny_model, tmp_path):
    frames = random_vision_tokens(60, seed=13)

    def run(cfg):
        events = []
        bounded = BoundedBackend(RuntimeBackend(tiny_model, capacity=1024), MemoryConfig.sized("keyframes", 300, 2.0))
        s = StreamSession(bounded, tiny_model.protocol, StreamConfig(recall=cfg), on_event=events.append)
        s.ask("What did I pick up at 0:03?", 25.2)
        for k in range(frames.shape[0]):
            s.push_frame(frames[k], k / 2.0)
        s.flush()
        return [(e.time, e.trigger, e.text, e.token_ids, e.evidence) for e in events if isinstance(e, Response)], s
    ram, _ = run(RecallConfig())
    disk, sess = run(RecallConfig(disk=str(tmp_path)))
    assert disk == ram and any(r[1] == "query" and r[4] for r in ram)
    assert sess.stream.recall.disk_bytes > 0 and sess.stream.recall.bytes == 0


def test_recall_disk_option_reaches_the_store_and_a_full_or_unwritable_disk_is_refused(tiny_paths, tmp_path,
                                                                                      monkeypatch):
    from vstream_ros.engine.options import EngineConfig
    from vstream_ros.host import build
    spec = tiny_paths.spec()
    said = []
    eng = build.load_engine(EngineConfig(spec, recall="on", recall_disk=str(tmp_path / "spill")), say=said.append)
    assert eng.stream.recall.disk == str(tmp_path / "spill")
    assert any(f"kept in files in {tmp_path / 'spill'}" in line for line in said)
    assert EngineConfig.from_values({"memory.recall_disk": "/x"}).recall_disk == "/x"
    monkeypatch.setattr(build, "_free_bytes", lambda folder: 1000)
    with pytest.raises(ValueError, match=r"has 0\.0 GB free; 4 h of 1 stream\(s\) need .* GB: lower "
                                         r"memory.recall_hours \(--recall-hours\)"):
        build.load_engine(EngineConfig(spec, recall="on", recall_disk=str(tmp_path)), say=said.append)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="cannot write there"):
        build.load_engine(EngineConfig(spec, recall="on", recall_disk=str(blocker)), say=said.append)
