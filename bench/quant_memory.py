"""Exact weight bytes of Llama-3-8B (VideoLLM-online shapes) at none / int8 / int4, and of the whole assistant
(SigLIP-L/16-384 + LLM + a bounded KV cache), without a GPU.

    python bench/quant_memory.py [--budget-tokens 6144] [--json out.json]

How: the LiveLlamaForCausalLM of the live-8b preset is built on the meta device (no memory) and every parameter
is sized. The linears that `engine.quantize.linear_targets` selects are sized by the torchao tensor they become:
  * int8 (any device) and int4-on-CPU: one real bf16 Linear of each distinct shape is quantized on the CPU with
    the config `engine.quantize.plan` picks, and its inner tensors are counted (engine.accounting.tensor_bytes);
    the lm_head (128256 rows) is quantized in 8016-row blocks (per-row layouts: bytes add up exactly over rows);
  * int4 on CUDA (tinygemm, tile_packed_to_4d): `Int4TilePackedTo4dTensor.from_hp` needs a GPU, so its two inner
    tensors are shaped here with the same padding rules and the library's own packing functions on the meta
    device (aten._convert_weight_to_int4pack's meta kernel, torchao's pack_tinygemm_scales_and_zeros).
Everything else keeps the load dtype: bf16 on CUDA (embeddings, norms, connector). The vision tower is loaded
fp32 on CUDA (run under fp16 autocast, as upstream; engine/vision.py). The KV cache is the runtime's bounded
cache: capacity = budget + 2048 (engine/factory.py), bf16.

Imports: torch, transformers, torchao (required here), the engine. Never ROS.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

GB, GIB = 1e9, 2 ** 30


def llama3_8b_meta():
    import torch  # noqa: PLC0415
    from transformers import LlamaConfig  # noqa: PLC0415

    from vstream_ros.engine.live_model import LiveLlamaForCausalLM  # noqa: PLC0415
    cfg = LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                      num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192,
                      rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=False)
    cfg.vision_hidden_size = 1024
    with torch.device("meta"):
        return LiveLlamaForCausalLM(cfg).to(torch.bfloat16), cfg


def siglip_l_meta():
    import torch  # noqa: PLC0415
    from transformers import SiglipVisionConfig, SiglipVisionModel  # noqa: PLC0415
    vcfg = SiglipVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                              num_attention_heads=16, image_size=384, patch_size=16)
    with torch.device("meta"):
        return SiglipVisionModel(vcfg)


def cpu_quantized_bytes(shape: tuple[int, int], kind: str, head: bool, block_rows: int = 8016) -> int:
    """Bytes of a bf16 Linear of `shape` after the torchao config of `kind`, quantized for real on the CPU."""
    import torch  # noqa: PLC0415
    from torchao.quantization import quantize_  # noqa: PLC0415

    from vstream_ros.engine.accounting import tensor_bytes  # noqa: PLC0415
    from vstream_ros.engine.quantize import QuantPlan  # noqa: PLC0415
    out_f, in_f = shape
    plan = QuantPlan("int8" if kind == "int8-weight-only" else "int4", kind, "cpu")
    total, done = 0, 0
    gen = torch.Generator().manual_seed(0)
    while done < out_f:
        rows = min(block_rows, out_f - done)
        lin = torch.nn.Linear(in_f, rows, bias=False, dtype=torch.bfloat16)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(rows, in_f, generator=gen) * 0.02)
        quantize_(lin, plan.config(in_f, head=head), filter_fn=lambda m, fqn: True)
        total += tensor_bytes(lin.weight)
        done += rows
    return total


def tinygemm_bytes(shape: tuple[int, int], group: int = 128, ntile: int = 8, inner_k_tiles: int = 8) -> int:
    """Bytes of Int4TilePackedTo4dTensor(qdata, scale_and_zero) for a Linear of `shape` (padding as from_hp)."""
    import torch  # noqa: PLC0415
    from torchao.quantization.utils import pack_tinygemm_scales_and_zeros  # noqa: PLC0415
    from torchao.utils import find_multiple  # noqa: PLC0415

    from vstream_ros.engine.accounting import tensor_bytes  # noqa: PLC0415
    out_f, in_f = shape
    k, n = find_multiple(in_f, 1024), find_multiple(out_f, ntile)
    packed_in = torch.empty(n, k // 2, dtype=torch.uint8, device="meta")
    qdata = torch.ops.aten._convert_weight_to_int4pack(packed_in, inner_k_tiles)
    scale = torch.empty(n, k // group, dtype=torch.bfloat16, device="meta")
    sz = pack_tinygemm_scales_and_zeros(scale, torch.empty_like(scale), torch.bfloat16)
    return tensor_bytes(qdata) + tensor_bytes(sz)


def llm_bytes(llm, kind: str | None, cache: dict) -> dict:
    """{'quantized': bytes of the selected linears, 'kept': bytes of the rest, 'total', 'targets': how many linears}."""
    from vstream_ros.engine.accounting import module_bytes  # noqa: PLC0415
    from vstream_ros.engine.quantize import linear_targets  # noqa: PLC0415
    targets = linear_targets(llm) if kind else {}
    q = 0
    for name, mod in targets.items():
        head = name == "lm_head"
        shape = tuple(mod.weight.shape)
        key = (kind if not head else "int8-weight-only", shape)
        if key not in cache:
            cache[key] = (tinygemm_bytes(shape) if key[0] == "int4-tinygemm"
                          else cpu_quantized_bytes(shape, key[0], head))
        q += cache[key]
    kept = module_bytes(llm) - sum(m.weight.numel() * m.weight.element_size() for m in targets.values())
    return {"quantized": q, "kept": kept, "total": q + kept, "targets": len(targets)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget-tokens", type=int, default=6144, help="bounded memory cap (runtime capacity = +2048)")
    p.add_argument("--json", default=None, help="also write the figures as JSON here")
    args = p.parse_args(argv)
    import torch  # noqa: PLC0415

    from vstream_ros.engine.accounting import module_bytes  # noqa: PLC0415
    from vstream_ros.engine.factory import ANSWER_HEADROOM  # noqa: PLC0415
    from vstream_ros.engine.runtime.kv_cache import KVCache  # noqa: PLC0415

    llm, cfg = llama3_8b_meta()
    vision_fp32 = module_bytes(siglip_l_meta())
    capacity = args.budget_tokens + ANSWER_HEADROOM
    kv = KVCache(cfg.num_hidden_layers, cfg.num_key_value_heads, capacity, cfg.hidden_size // cfg.num_attention_heads,
                 dtype=torch.bfloat16, device="meta").bytes
    rows, cache = [], {}
    for label, kind in (("none (bf16)", None), ("int8 (any device)", "int8-weight-only"),
                        ("int4, CUDA sm_80+ (tinygemm)", "int4-tinygemm"), ("int4, CPU (intx, 1 byte/value)",
                                                                            "int4-intx-cpu")):
        b = llm_bytes(llm, kind, cache)
        rows.append({"mode": label, "kind": kind, **b, "assistant": b["total"] + vision_fp32 + kv})
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# {now}; {platform.machine()} CPU, torch {torch.__version__}; no GPU used (meta device + CPU)")
    print(f"# Llama-3-8B shapes (32 layers, hidden 4096, MLP 14336, GQA 8 KV heads, vocab 128256, untied lm_head) "
          f"+ connector 1024->4096; SigLIP-L/16-384 fp32 {vision_fp32:,} B; KV bf16 {capacity} positions {kv:,} B")
    print("| LLM weights | linears quantized | quantized bytes | kept bytes (embeddings, norms, connector) | "
          "LLM total | LLM GB | LLM GiB | + SigLIP-L fp32 + KV = assistant GB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['mode']} | {r['targets']} | {r['quantized']:,} | {r['kept']:,} | {r['total']:,} | "
              f"{r['total'] / GB:.3f} | {r['total'] / GIB:.3f} | {r['assistant'] / GB:.3f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"date": now, "vision_fp32": vision_fp32, "kv": kv,
                                               "kv_capacity": capacity, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
