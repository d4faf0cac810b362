"""Save the trained demo model in the published VideoLLM-online layout, small (fp16, tied embeddings):

    ROOT/llm/          LiveLlamaForCausalLM (all trained weights, connector included) + Llama-3 tokenizer
    ROOT/vision/       SiglipVisionModel (pre-trained, frozen)
    ROOT/checkpoint/   PEFT LoRA adapter: upstream target regex minus lm_head (tied), rank 1 with lora_B = 0 (a no-op: the base
                       holds everything), `connector` in modules_to_save (the trained connector)
    ROOT/train_info.json  settings, data seeds, losses and the command that made it

`engine.checkpoint.load_live_model(ModelSpec(checkpoint=ROOT))` (or ROOT/checkpoint, or `demo` for the shipped
one) loads it like any published checkpoint: engine/sources.py finds llm/ and vision/ in the root. Files are
written into a temporary sibling folder and moved into place at the end, so an interrupted export never leaves
a half-written model.

Imports: torch, transformers, peft, engine.checkpoint/template. Never ROS.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

from vstream_ros.atomic import dir_mode, file_mode
from vstream_ros.engine.checkpoint import PEFT_TARGET_REGEX
from vstream_ros.engine.template import default_tokenizer_file

BASE_NAME = "../llm"     # relative to the adapter folder (engine/sources.py resolves it there, from any cwd)
# LoRA on the decoder blocks only: the head is tied to the embeddings and a LoRA there would untie it.
TARGET_REGEX = PEFT_TARGET_REGEX.replace("|lm_head$", "")
TOKENIZER_CONFIG = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|begin_of_text|>",
                    "eos_token": "<|eot_id|>", "model_max_length": 131072, "clean_up_tokenization_spaces": False}


def export_model(root: str | Path, llm, tower, info: dict, context=None) -> Path:
    """Write llm/, vision/, checkpoint/ (+ `context`, an engine.memory.context.TrainedContext, as
    checkpoint/trained_context.json) and train_info.json into `root`, atomically (a temp folder renamed)."""
    from peft import LoraConfig, get_peft_model  # noqa: PLC0415

    root = Path(root).resolve()
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        llm = llm.to(torch.float16).eval()
        llm.save_pretrained(tmp / "llm", safe_serialization=True)
        shutil.copyfile(default_tokenizer_file(), tmp / "llm" / "tokenizer.json")   # compact original (9 MB)
        (tmp / "llm" / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=1) + "\n")
        tower.to(torch.float16).save_pretrained(tmp / "vision", safe_serialization=True)
        tower.float()
        peft_cfg = LoraConfig(r=1, lora_alpha=1, lora_dropout=0.0, target_modules=TARGET_REGEX,
                              modules_to_save=["connector"], bias="none", task_type="CAUSAL_LM")
        peft = get_peft_model(llm, peft_cfg, autocast_adapter_dtype=False)
        with torch.no_grad():
            for name, p in peft.named_parameters():
                if "lora_B" in name:
                    p.zero_()
        peft.save_pretrained(str(tmp / "checkpoint"), safe_serialization=True, save_embedding_layers=False)
        (tmp / "checkpoint" / "README.md").unlink(missing_ok=True)    # PEFT's empty model-card template
        cfg_path = tmp / "checkpoint" / "adapter_config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg["base_model_name_or_path"] = BASE_NAME
        cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")
        peft.unload()
        (tmp / "train_info.json").write_text(json.dumps(info, indent=1, default=str) + "\n")
        if context is not None:
            from vstream_ros.engine.memory.context import write_context  # noqa: PLC0415
            write_context(tmp / "checkpoint", context)
        for p in tmp.rglob("*"):
            os.chmod(p, dir_mode() if p.is_dir() else file_mode())
        os.chmod(tmp, dir_mode())               # mkdtemp made it 0700: give it the user's umask
        if root.exists():
            old = root.with_name(f".{root.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(root, old)
            os.replace(tmp, root)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def model_size_bytes(root: str | Path) -> int:
    return sum(p.stat().st_size for p in Path(root).rglob("*") if p.is_file())
