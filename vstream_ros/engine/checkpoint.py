"""Load (and save) VideoLLM-online checkpoints: a PEFT LoRA adapter + a fully-saved `connector` over a
Llama-3 base, plus the SigLIP tower (docs/design/stream-format.md §1). What to load is decided by engine/sources.py (the
`demo` name, model roots, adapter-relative base paths, hub ids); the folder is validated before PEFT sees it, so
a malformed checkpoint fails with one clear `CheckpointError` naming the problem.

Imports: torch, transformers, peft, safetensors, huggingface_hub (for hub ids). Never ROS/replay/train.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ..console import quiet_model_loading
from .config import ModelSpec, resolve_device, resolve_dtype
from .live_model import LiveLlamaForCausalLM
from .template import TEXT_VOCAB_SIZE, load_tokenizer
from .protocol import StreamProtocol
from .sources import (ADAPTER_CONFIG, ADAPTER_WEIGHTS, CheckpointError, locate_checkpoint,  # noqa: F401
                      read_adapter_config, resolve_sources)
from .vision import VisionEncoder, load_vision

CONNECTOR_PREFIX = "base_model.model.connector."
PEFT_TARGET_REGEX = r"model.*(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)|lm_head$"


@dataclass
class LiveModel:
    """Everything needed to run a stream: LLM (+connector), vision tower, tokenizer, template."""

    llm: torch.nn.Module            # LiveLlamaForCausalLM, merged, or PEFT-wrapped if merge_lora=False
    vision: VisionEncoder
    tokenizer: object
    protocol: StreamProtocol
    device: str
    dtype: torch.dtype
    quantize: str = "none"          # none | int8 | int4: the LLM's linears were quantized at load (engine/quantize.py)

    @property
    def base(self) -> LiveLlamaForCausalLM:
        get_base = getattr(self.llm, "get_base_model", None)
        return get_base() if callable(get_base) else self.llm


def resolve_checkpoint_dir(checkpoint: str) -> Path:
    """The adapter folder `checkpoint` names (folder, model root, `demo` or hub id); see engine/sources.py."""
    return locate_checkpoint(checkpoint)[0]


def read_adapter_tensors(ckpt: Path) -> dict[str, torch.Tensor]:
    for name in ADAPTER_WEIGHTS:
        path = ckpt / name
        if path.is_file():
            try:
                if name.endswith(".safetensors"):
                    from safetensors.torch import load_file  # noqa: PLC0415
                    return load_file(str(path))
                return torch.load(str(path), map_location="cpu", weights_only=True)
            except Exception as e:  # noqa: BLE001
                raise CheckpointError(f"{path} cannot be read: {' '.join(str(e).split())[:200]}") from None
    raise CheckpointError(f"{ckpt}: adapter weights missing (expected one of {', '.join(ADAPTER_WEIGHTS)})")


def validate_adapter(tensors: dict[str, torch.Tensor], llm_config, ckpt: Path) -> int:
    """Check connector presence and LoRA shapes against the base config; return the vision width."""
    conn = {k[len(CONNECTOR_PREFIX):]: v for k, v in tensors.items() if k.startswith(CONNECTOR_PREFIX)}
    needed = ("0.weight", "0.bias", "2.weight", "2.bias")
    missing = [k for k in needed if k not in conn]
    if missing:
        raise CheckpointError(f"{ckpt}: connector weights missing ({', '.join(CONNECTOR_PREFIX + m for m in missing)})")
    d = llm_config.hidden_size
    if conn["0.weight"].shape[0] != d or tuple(conn["2.weight"].shape) != (d, d):
        raise CheckpointError(f"{ckpt}: connector maps to width {conn['0.weight'].shape[0]} but the base LLM "
                              f"has hidden size {d}: wrong base model (use --llm)")
    lora = [k for k in tensors if ".lora_A." in k or ".lora_B." in k]
    if not lora:
        raise CheckpointError(f"{ckpt}: no LoRA tensors (lora_A/lora_B) in the adapter weights")
    head_dim = getattr(llm_config, "head_dim", None) or d // llm_config.num_attention_heads
    out_dims = {"q_proj": llm_config.num_attention_heads * head_dim, "o_proj": d,
                "k_proj": llm_config.num_key_value_heads * head_dim, "v_proj": llm_config.num_key_value_heads * head_dim,
                "gate_proj": llm_config.intermediate_size, "up_proj": llm_config.intermediate_size,
                "down_proj": d, "lm_head": llm_config.vocab_size}
    in_dims = {"down_proj": llm_config.intermediate_size, "o_proj": llm_config.num_attention_heads * head_dim}
    for k in lora:
        module = k.split(".lora_")[0].rsplit(".", 1)[-1]
        if module not in out_dims:
            continue
        t = tensors[k]
        if ".lora_A." in k and t.shape[1] != in_dims.get(module, d):
            raise CheckpointError(f"{ckpt}: {k} has shape {tuple(t.shape)}, input width {in_dims.get(module, d)} "
                                  f"expected from the base LLM: wrong base model (use --llm)")
        if ".lora_B." in k and t.shape[0] != out_dims[module]:
            raise CheckpointError(f"{ckpt}: {k} has shape {tuple(t.shape)}, output width {out_dims[module]} "
                                  f"expected from the base LLM: wrong base model (use --llm)")
        layer = _layer_index(k)
        if layer is not None and layer >= llm_config.num_hidden_layers:
            raise CheckpointError(f"{ckpt}: {k} names layer {layer} but the base LLM has "
                                  f"{llm_config.num_hidden_layers} layers: wrong base model (use --llm)")
    return int(conn["0.weight"].shape[1])


def _layer_index(key: str) -> int | None:
    parts = key.split(".")
    for a, b in zip(parts, parts[1:]):
        if a == "layers" and b.isdigit():
            return int(b)
    return None


def load_live_model(spec: ModelSpec) -> LiveModel:
    """Load a VideoLLM-online checkpoint as `spec` says (LoRA merged unless spec.merge_lora is False)."""
    from peft import PeftModel  # noqa: PLC0415
    from transformers import AutoConfig  # noqa: PLC0415

    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device)
    if spec.quantize != "none":                  # torchao present, device/dtype able: checked before any weight loads
        from .quantize import plan  # noqa: PLC0415
        plan(spec.quantize, device, dtype)
    src = resolve_sources(spec)                      # every path checked; hub ids usable now (or one-line error)
    ckpt, llm_source = src.checkpoint, src.llm
    try:
        llm_config = AutoConfig.from_pretrained(llm_source)
    except OSError as e:
        raise CheckpointError(f"base LLM {llm_source!r} not found: {' '.join(str(e).split())[:300]}") from None
    if getattr(llm_config, "model_type", "") != "llama":
        raise CheckpointError(f"base LLM {llm_source!r} is {llm_config.model_type!r}, expected a Llama model")
    if llm_config.vocab_size != TEXT_VOCAB_SIZE:
        raise CheckpointError(f"base LLM {llm_source!r} has vocab {llm_config.vocab_size}, expected the Llama-3 "
                              f"vocabulary of {TEXT_VOCAB_SIZE}")
    tensors = read_adapter_tensors(ckpt)
    llm_config.vision_hidden_size = validate_adapter(tensors, llm_config, ckpt)
    del tensors

    with quiet_model_loading():
        vision = load_vision(src.vision, device=device, dtype=dtype)
    if vision.hidden_size != llm_config.vision_hidden_size:
        raise CheckpointError(f"vision tower width {vision.hidden_size} does not match the connector input "
                              f"{llm_config.vision_hidden_size}: wrong --vision")

    with quiet_model_loading():
        base = LiveLlamaForCausalLM.from_pretrained(llm_source, config=llm_config, dtype=dtype)
    with warnings.catch_warnings():   # PEFT probes a transformers property deprecated in v5 (its call, not ours)
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        model = PeftModel.from_pretrained(base, str(ckpt), is_trainable=False)
    if spec.merge_lora:
        model = model.merge_and_unload()
    model.eval().requires_grad_(False)
    if spec.quantize != "none":                  # after the merge, one linear at a time onto the device
        from .quantize import quantize_llm  # noqa: PLC0415
        quantize_llm(model, spec.quantize, device=device, dtype=dtype)
    model.to(device)
    tokenizer = load_tokenizer(llm_source)
    return LiveModel(llm=model, vision=vision, tokenizer=tokenizer, protocol=StreamProtocol.build(tokenizer),
                     device=device, dtype=dtype, quantize=spec.quantize)


def save_live_checkpoint(peft_model, out_dir: str | Path, base_model_name_or_path: str | None = None) -> Path:
    """Save a PEFT-wrapped LiveLlamaForCausalLM in the published layout (adapter + connector)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    peft_model.save_pretrained(str(out), safe_serialization=True, save_embedding_layers=False)
    if base_model_name_or_path:
        cfg_path = out / ADAPTER_CONFIG
        cfg = json.loads(cfg_path.read_text())
        cfg["base_model_name_or_path"] = base_model_name_or_path
        tmp = cfg_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(cfg, indent=2))
        os.replace(tmp, cfg_path)
    return out
