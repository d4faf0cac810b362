"""Long-run simulation helper: bounded bytes over simulated time, JSON + PNG output."""
from __future__ import annotations

import json
from types import SimpleNamespace

import torch

from vstream_ros.engine.memory import BoundedBackend, MemoryConfig, kv_bytes
from vstream_ros.engine.live_model import LiveLlamaForCausalLM
from vstream_ros.engine.runtime.runtime_backend import RuntimeBackend
from vstream_lab.longrun import Shapes, simulate, write
from vstream_ros.testing.tiny import llm_config


def test_keyframes_bounded_full_grows_and_files_written(tmp_path):
    mem = MemoryConfig.stress()
    runs = [simulate(mem, fps, 400.0, log_every_s=20.0, seed=1) for fps in (2.0, 10.0)]
    for run in runs:
        peak = [b["max_kv_bytes"] for b in run["buckets"]]
        assert max(peak) <= kv_bytes(mem.cap_tokens, **vars(Shapes()))
        assert all(b["max_tokens"] <= mem.cap_tokens for b in run["buckets"])
        assert run["events"] > 0
    late = [b["max_tokens"] for b in runs[1]["buckets"]][len(runs[1]["buckets"]) // 2:]
    assert max(late) - min(late) <= 16 * 11 + 200                      # plateau: one block + a turn or two
    full = simulate(MemoryConfig(policy="full"), 2.0, 300.0, log_every_s=30.0)
    tokens = [b["tokens"] for b in full["buckets"]]
    assert tokens == sorted(tokens) and tokens[-1] > 600 * 11           # the original grows without bound
    js, png = write(runs, str(tmp_path / "lr"))
    assert json.loads(open(js).read())["runs"][0]["fps"] == 2.0
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_with_a_model_backend():
    torch.manual_seed(0)
    llm = LiveLlamaForCausalLM(llm_config()).eval()

    def factory(mem):
        inner = RuntimeBackend(SimpleNamespace(llm=llm, device="cpu", dtype=torch.float32), capacity=1024)
        return BoundedBackend(inner, mem)

    mem = MemoryConfig(cap_tokens=500, window_frames=10, block_frames=4, longterm_frames=6, text_tokens=100,
                       text_pinned_tokens=20)
    run = simulate(mem, 2.0, 40.0, shapes=Shapes(2, 2, 16, 4), log_every_s=10.0, backend_factory=factory,
                   p_reply=0.1)
    assert run["with_model"] and run["events"] > 0
    assert all(b["max_tokens"] <= mem.cap_tokens + 60 for b in run["buckets"])


def test_vstream_lab_longrun_writes_json_and_png(tmp_path, capsys):
    import json

    from vstream_lab.cli import main
    assert main(["longrun", "--duration-s", "300", "--fps", "2", "--out", str(tmp_path)]) == 0
    runs = json.loads((tmp_path / "longrun.json").read_text())["runs"]
    assert runs[0]["fps"] == 2.0 and runs[0]["frames"] == 600
    assert (tmp_path / "longrun.png").read_bytes()[:4] == b"\x89PNG"
