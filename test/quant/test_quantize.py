"""Weight-only quantization (engine/quantize.py) on the tiny published-layout fixture, CPU.

The parity clip is test/runtime/test_backend_parity.py's (14 frames of random vision tokens, seed 11, two
queries, 6-token forced-length replies). The tiny LLM has random weights, so its greedy reply tokens sit on tiny
logit margins; measured against the unquantized runtime on this clip (torch 2.13 CPU, torchao 0.18):
  int8: decisions 14/14, replies 8/9 token-identical, max |dP(',')| 0.0073
  int4: decisions 14/14, replies 6/9 token-identical, max |dP(',')| 0.0046 (lm_head int8)
The bounds below keep the decisions exact and allow one reply fewer than measured. The trained demo model's
agreement is in test/demo/test_demo_quantized.py.
"""
import math

import pytest
import torch

from vstream_ros.bench.wrappers import ForcedLength
from vstream_ros.engine import quantize as Q
from vstream_ros.engine.accounting import memory_report, module_bytes, tensor_bytes
from vstream_ros.engine.agreement import agreement
from vstream_ros.engine.config import ModelSpec, StreamConfig
from vstream_ros.engine.reference import ReferenceBackend
from vstream_ros.engine.runtime.runtime_backend import RuntimeBackend
from vstream_ros.engine.session import StreamSession
from vstream_ros.testing.tiny import random_vision_tokens

needs_torchao = pytest.mark.skipif(not Q.torchao_available(),
                                   reason="torchao is not installed (pip install 'vstream_ros[quant]')")


def parity_clip(backend, protocol):
    s = StreamSession(ForcedLength(backend), protocol, StreamConfig(max_new_tokens=6))
    s.ask("what is happening?", t=3.25)
    s.ask("and now?", t=5.0)
    vision = random_vision_tokens(14, seed=11)
    events = []
    for i in range(len(vision)):
        events += s.push_frame(vision[i], i * 0.5)
    return events + s.flush()


@pytest.fixture(scope="module")
def quantized(tiny_paths):
    from vstream_ros.engine.checkpoint import load_live_model
    return {q: load_live_model(tiny_paths.spec(quantize=q)) for q in ("int8", "int4")}


# ---- the choice of config, per device (no torchao kernels needed) --------------------------------------------
@pytest.mark.parametrize("mode,device,cap,dtype,mslk,kind", [
    ("int8", "cpu", None, torch.float32, False, "int8-weight-only"),
    ("int4", "cpu", None, torch.float32, False, "int4-intx-cpu"),
    ("int8", "cuda", (7, 5), torch.float16, False, "int8-weight-only"),
    ("int4", "cuda", (8, 7), torch.bfloat16, False, "int4-tinygemm"),       # Jetson Orin
    ("int4", "cuda", (8, 9), torch.bfloat16, True, "int4-tinygemm"),        # RTX 40xx: mslk is sm_90 only
    ("int4", "cuda", (9, 0), torch.bfloat16, False, "int4-tinygemm"),
    ("int4", "cuda", (9, 0), torch.bfloat16, True, "int4-mslk"),
])
def test_plan_per_device(monkeypatch, mode, device, cap, dtype, mslk, kind):
    monkeypatch.setattr(Q, "_has", lambda name: {"torchao": True, "mslk": mslk}[name])
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda dev=None: cap)
    p = Q.plan(mode, device, dtype)
    assert (p.mode, p.kind) == (mode, kind)
    assert Q.plan("none", device, dtype) is None


@pytest.mark.parametrize("cap,dtype,words", [((7, 5), torch.bfloat16, "use quantize int8"),
                                             ((8, 6), torch.float16, "bfloat16")])
def test_int4_on_cuda_refusals_say_what_works(monkeypatch, cap, dtype, words):
    monkeypatch.setattr(Q, "_has", lambda name: name == "torchao")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda dev=None: cap)
    with pytest.raises(Q.QuantizeError, match=words):
        Q.plan("int4", "cuda", dtype)


def test_missing_torchao_is_one_actionable_line(monkeypatch, tiny_paths, tmp_path, capsys):
    monkeypatch.setattr(Q, "_has", lambda name: False)
    with pytest.raises(Q.QuantizeError) as e:
        Q.plan("int8", "cpu", torch.float32)
    assert "pip install 'vstream_ros[quant]'" in str(e.value) and "\n" not in str(e.value)
    Q.plan("none", "cpu", torch.float32)                          # 'none' never needs it
    from vstream_ros.cli import main
    from vstream_ros.testing.media import write_test_video
    video = write_test_video(tmp_path / "clip.mp4", n=5)
    rc = main(["run", str(video), "--model", str(tiny_paths.checkpoint), "--llm", str(tiny_paths.llm),
               "--vision", str(tiny_paths.vision), "--device", "cpu", "--quantize", "int4", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert err[0].startswith("vstream: error: quantize int4 needs torchao") and "[quant]" in err[0]


def test_unmerged_lora_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="drop --no-merge"):
        ModelSpec(checkpoint="x", merge_lora=False, quantize="int8")
    with pytest.raises(ValueError, match="quantize must be one of none, int8, int4"):
        ModelSpec(checkpoint="x", quantize="int3")


def test_node_parameter_model_quantize():
    from vstream_ros.ros import params as P
    assert P.validate("model.quantize", "int4") is None
    assert "none, int8, int4" in P.validate("model.quantize", "fp8")
    values = {p.name: p.default for p in P.PARAMS}
    assert P.engine_config({**values, "model.quantize": "int8"}).model.quantize == "int8"
    assert "merge" in P.cross_check({**values, "model.quantize": "int8", "model.merge_lora": False})


def test_targets_skip_connector_and_a_tied_lm_head(tiny_model):
    names = set(Q.linear_targets(tiny_model.llm))
    assert "lm_head" in names and not any(n.startswith("connector") for n in names)
    assert len(names) == 2 * 7 + 1                                # 2 layers × (q k v o gate up down) + lm_head
    from vstream_ros.engine.live_model import LiveLlamaForCausalLM
    from vstream_ros.testing.tiny import llm_config
    tied = LiveLlamaForCausalLM(llm_config(tie_word_embeddings=True, vocab_size=512))
    assert tied.lm_head.weight is tied.model.embed_tokens.weight
    assert "lm_head" not in Q.linear_targets(tied)


# ---- quantized streams ---------------------------------------------------------------------------------------
@needs_torchao
@pytest.mark.parametrize("mode,min_replies,max_dp", [("int8", 7, 0.02), ("int4", 5, 0.02)])
def test_parity_clip_agreement(tiny_model, quantized, mode, min_replies, max_dp):
    live = quantized[mode]
    layer = live.llm.model.layers[0].mlp.down_proj.weight
    assert type(layer).__name__ == {"int8": "Int8Tensor", "int4": "IntxUnpackedToInt8Tensor"}[mode]
    assert type(live.llm.lm_head.weight).__name__ == "Int8Tensor"
    assert type(live.llm.connector[0].weight) is torch.nn.Parameter            # connector kept
    base = parity_clip(RuntimeBackend(tiny_model), tiny_model.protocol)
    quant = parity_clip(RuntimeBackend(live), live.protocol)
    a = agreement(base, quant)
    print(mode, a.line())
    assert a.frames == 14 and a.same_decisions == 14
    assert a.replies == 9 and a.same_replies >= min_replies
    assert 0 < a.max_dp_silent <= max_dp                         # > 0: the weights really changed


@needs_torchao
@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_reference_backend_runs_the_same_quantized_model(quantized, mode, same_events):
    live = quantized[mode]
    same_events(parity_clip(ReferenceBackend(live), live.protocol), parity_clip(RuntimeBackend(live), live.protocol))


@needs_torchao
def test_memory_report_counts_quantized_layouts_exactly(tiny_model, quantized):
    plain = RuntimeBackend(tiny_model)
    rep = memory_report(ForcedLength(plain))                     # wrappers are looked through
    assert rep["weight_bytes"] == sum(p.numel() * 4 for p in plain.model.parameters())
    assert rep["weight_formats"] == "plain"
    cache = plain.cache
    assert rep["kv_bytes"] == cache.bytes == 2 * 2 * 2 * cache.capacity * 16 * 4   # k+v, layers, kv heads, hd 16
    seen: set = set()                                            # the decoder shares the loaded model's storage
    assert module_bytes(plain.model, seen) + module_bytes(tiny_model.llm, seen) == rep["weight_bytes"]

    fast = RuntimeBackend(quantized["int8"])
    targets = {k.removeprefix("model."): m for k, m in Q.linear_targets(quantized["int8"].llm).items()}
    rows_cols = [(m.weight.shape[0], m.weight.shape[1]) for m in targets.values()]
    quant_bytes = sum(n * k + n * 4 + n * 1 for n, k in rows_cols)    # int8 data + fp32 scale + int8 zero per row
    kept = sum(p.numel() * 4 for name, p in fast.model.named_parameters()
               if name.removesuffix(".weight") not in targets)
    rep8 = memory_report(fast)
    assert rep8["weight_bytes"] == quant_bytes + kept < rep["weight_bytes"]
    assert rep8["weight_formats"] == "Int8Tensor"
    assert tensor_bytes(fast.model.lm_head.weight) == 128256 * 64 + 128256 * 5
    assert rep8["peak_bytes"] > 0 and rep8["peak_source"] == "process max RSS"
    assert not math.isnan(rep8["kv_bytes"])


@needs_torchao
def test_bench_prints_weight_kv_and_peak(capsys):
    from vstream_ros.cli import main
    assert main(["bench", "--preset", "tiny", "--frames", "4", "--repeats", "1", "--quantize", "int8"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "memory:" in x)
    assert "weights" in line and "(Int8Tensor)" in line and "KV" in line and "peak" in line
