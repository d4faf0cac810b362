"""`vstream train --config config/train/NAME.yaml [--resume auto|DIR] [--set KEY=VALUE …] [--dry-run]`.

Config sections (see config/train/live1plus_8b.yaml): model {llm, init_adapter, dtype}, lora {r, alpha,
dropout, target_modules, modules_to_save} (absent = LoRA defaults; `lora: false` = full training: no PEFT,
every LLM parameter trained, the whole model saved), data {features, fps, max_frames, train: [sources],
val: [sources], memory (optional: memory-aligned samples, train/aligned.py: {policy: keyframes|window|recent,
budget_tokens, recent_frames, sample_every, + any MemoryConfig tier field})}, loss {stream_loss_weight, word_weights: {word: weight} (reply words whose loss is scaled; each
must be one token with its leading space)}, eval {metric_samples}, training {any
transformers.TrainingArguments field; `bf16`/`tf32: auto` = on when CUDA supports it}. `--set
training.max_steps=20` overrides one value (YAML scalar); `--set lora=false` selects full training. $VARS
in strings are expanded. Multi-GPU: launch this same command under torchrun / accelerate launch
(docs/training.md). The output folder gets trained_context.json: the context the model was trained on
(engine/memory/context.py), from which the engine sizes its default memory.

Imports: yaml, train.* (lazily: `--help` stays fast). Never ROS.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import re
import sys
from pathlib import Path

SECTIONS = ("model", "lora", "data", "loss", "eval", "training")


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train the stream assistant (LoRA or full) on stream dialogues",
                              description=__doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="training YAML (config/train/*.yaml)")
    p.add_argument("--resume", default=None, help="'auto' (last checkpoint in output_dir) or a checkpoint folder")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. training.max_steps=10 or lora=false (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="build the datasets, print their counts and exit")
    p.set_defaults(func=main)


class ConfigError(ValueError):
    pass


def load_config(path: str, overrides: list[str] = ()) -> dict:
    import yaml  # noqa: PLC0415
    try:
        cfg = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config not found: {path}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {' '.join(str(e).split())[:200]}") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: top level must be a mapping with sections {SECTIONS}")
    unknown = set(cfg) - set(SECTIONS)
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {sorted(unknown)}; allowed: {SECTIONS}")
    cfg = _expand(copy.deepcopy(cfg))
    for ov in overrides:
        key, sep, value = ov.partition("=")
        if sep and key == "lora":                       # `--set lora=false`: full training
            cfg["lora"] = yaml.safe_load(value)
            continue
        parts = key.split(".")
        if not sep or len(parts) < 2 or parts[0] not in SECTIONS:
            raise ConfigError(f"--set {ov!r}: expected SECTION.KEY=VALUE with SECTION in {SECTIONS}")
        node = cfg.setdefault(parts[0], {})
        for p in parts[1:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = _number(yaml.safe_load(value))
    cfg["training"] = {k: _number(v) for k, v in (cfg.get("training") or {}).items()}
    for need in ("model.llm", "data.features", "data.train", "training.output_dir"):
        sec, k = need.split(".")
        if not (cfg.get(sec) or {}).get(k):
            raise ConfigError(f"{path}: {need} is required")
    return cfg


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _number(v):
    """YAML 1.1 reads `2e-4` as a string: turn number-looking strings into floats."""
    return float(v) if isinstance(v, str) and _NUMBER.fullmatch(v.strip()) else v


def _expand(node):
    """Expand $VARS in every string (paths in CI configs come from the environment)."""
    if isinstance(node, dict):
        return {k: _expand(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v) for v in node]
    return os.path.expandvars(node) if isinstance(node, str) else node


def _auto(v, cuda_ok: bool):
    return cuda_ok if v == "auto" else bool(v)


def training_arguments(tcfg: dict, has_val: bool):
    import torch  # noqa: PLC0415
    from transformers import TrainingArguments  # noqa: PLC0415

    kw = dict(tcfg)
    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    if "warmup_ratio" in kw and "warmup_ratio" not in fields:    # transformers 5: warmup_steps takes a ratio
        ratio = float(kw.pop("warmup_ratio"))
        if ratio:
            kw.setdefault("warmup_steps", ratio)
    for k, v in list(kw.items()):                     # YAML 1.1 reads `no` as false: `save_strategy: no`
        if k.endswith("_strategy") and v is False:
            kw[k] = "no"
    cuda = torch.cuda.is_available()
    kw["bf16"] = _auto(kw.get("bf16", "auto"), cuda and torch.cuda.is_bf16_supported())
    kw["tf32"] = _auto(kw.get("tf32", "auto"), cuda) or None
    kw.setdefault("gradient_checkpointing", True)
    kw.setdefault("gradient_checkpointing_kwargs", {"use_reentrant": False})
    for old, new in (("gradient_checkpointing", "activation_checkpointing"),
                     ("gradient_checkpointing_kwargs", "activation_checkpointing_kwargs")):
        if new in fields and old in kw:             # transformers 5 renamed them (old names warn)
            kw.setdefault(new, kw.pop(old))
    kw.setdefault("report_to", "none")
    kw.setdefault("lr_scheduler_type", "cosine")
    kw.update(remove_unused_columns=False, label_names=["labels"], prediction_loss_only=True)
    if not has_val:
        kw["eval_strategy"] = "no"
    try:
        return TrainingArguments(**kw)
    except TypeError as e:
        raise ConfigError(f"training: {e} (keys must be transformers.TrainingArguments fields)") from None
    except ValueError as e:
        raise ConfigError(f"training: {' '.join(str(e).split())[:300]}") from None


def lora_settings(cfg: dict):
    """The `lora` section as LoraSettings, or None for full training (`lora: false`)."""
    from .trainer import LoraSettings  # noqa: PLC0415
    section = cfg.get("lora")
    if section is False:
        if (cfg.get("model") or {}).get("init_adapter"):
            raise ConfigError("lora: false (full training) cannot start from model.init_adapter (a LoRA adapter): "
                              "remove init_adapter, or merge the adapter into a full model folder and use it as "
                              "model.llm")
        return None
    if section is not None and not isinstance(section, dict):
        raise ConfigError(f"lora must be a mapping (LoRA settings) or false (full training), got {section!r}")
    try:
        return LoraSettings(**(section or {}))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"lora: {e}") from None


def word_token_weights(word_weights, tokenizer) -> dict[int, float]:
    """`loss.word_weights` {word: weight} → {token id: weight}. A word is weighted where it follows a space in a
    reply (" red"), so " " + word must be exactly one token of the tokenizer; anything else is a ConfigError."""
    if not word_weights:
        return {}
    if not isinstance(word_weights, dict):
        raise ConfigError(f"loss.word_weights must map words to weights, got {word_weights!r}")
    out = {}
    for word, w in word_weights.items():
        ids = tokenizer.encode(" " + str(word).strip(), add_special_tokens=False)
        if len(ids) != 1:
            raise ConfigError(f"loss.word_weights: {word!r} is {len(ids)} tokens with its leading space "
                              f"({ids}); only single-token words can be weighted")
        try:
            w = float(w)
        except (TypeError, ValueError):
            w = -1.0
        if not w >= 0:
            raise ConfigError(f"loss.word_weights: weight of {word!r} must be a number >= 0")
        out[ids[0]] = w
    return out


MEMORY_KEYS = ("policy", "budget_tokens", "recent_frames", "sample_every")


def memory_settings(data: dict):
    """`data.memory` as (MemoryConfig, sample_every), or None for contiguous samples (absent / false)."""
    section = data.get("memory")
    if not section:
        return None
    if not isinstance(section, dict):
        raise ConfigError(f"data.memory must be a mapping (policy, budget_tokens, …) or absent, got {section!r}")
    from ..engine.memory.budgets import BOUNDED_POLICIES, MIN_FRAMES, MemoryConfig  # noqa: PLC0415
    tiers = {f.name for f in dataclasses.fields(MemoryConfig)} - {"policy", "cap_tokens", "fps"}
    unknown = set(section) - set(MEMORY_KEYS) - tiers
    if unknown:
        raise ConfigError(f"data.memory: unknown key(s) {sorted(unknown)}; allowed: {sorted(set(MEMORY_KEYS) | tiers)}")
    policy = section.get("policy", "keyframes")
    if policy not in BOUNDED_POLICIES:
        raise ConfigError(f"data.memory.policy must be one of {', '.join(BOUNDED_POLICIES)} (omit data.memory for "
                          f"contiguous samples), got {policy!r}")
    try:
        cfg = MemoryConfig.sized(policy, int(section.get("budget_tokens", 6144)), float(data.get("fps", 2.0)),
                                 recent_frames=int(section.get("recent_frames", MIN_FRAMES)),
                                 **{k: v for k, v in section.items() if k in tiers})
    except (TypeError, ValueError) as e:
        raise ConfigError(f"data.memory: {' '.join(str(e).split())}") from None
    every = section.get("sample_every", 1)
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise ConfigError(f"data.memory.sample_every must be an int >= 1, got {every!r}")
    return cfg, every


def trained_context(dataset, fps: float, memory, command: str):
    """The engine.memory.context.TrainedContext of a training set (aligned: its samples' lengths and layout;
    contiguous: every dialogue's frames and tokens)."""
    from ..engine.memory.context import context_of_samples  # noqa: PLC0415
    lengths = getattr(dataset, "lengths", None)
    if lengths is None:
        from .dialogue import encode_dialogue  # noqa: PLC0415
        lengths = [(d.num_frames, len(encode_dialogue(d.conversation, dataset.tokenizer).input_ids))
                   for d in dataset.items]
    return context_of_samples(lengths, fps, memory, written_by=command)


def run(cfg: dict, resume: str | None = None, dry_run: bool = False, log=print, callbacks=None):
    """Build data + model and train; returns the trainer (tests use it) or None for a dry run."""
    import torch  # noqa: PLC0415
    from transformers.trainer_utils import get_last_checkpoint  # noqa: PLC0415

    from ..atomic import write_json_atomic  # noqa: PLC0415
    from .collator import StreamCollator  # noqa: PLC0415
    from .dataset import build_dataset  # noqa: PLC0415
    from .features import FeatureStore  # noqa: PLC0415
    from .trainer import StreamTrainer, build_model, tokenizer_for  # noqa: PLC0415

    if int(os.environ.get("RANK", "0")) != 0:          # torchrun/accelerate: one copy of the data report
        log = lambda *_: None  # noqa: E731
    mcfg, data = cfg["model"], cfg["data"]
    lora = lora_settings(cfg)
    store = FeatureStore(data["features"])
    fps, max_frames = float(data.get("fps", 2.0)), int(data.get("max_frames", 1200))
    tok = tokenizer_for(mcfg["llm"])
    token_weights = word_token_weights((cfg.get("loss") or {}).get("word_weights"), tok)
    aligned = memory_settings(data)
    train_ds = build_dataset(data["train"], store, tok, fps, max_frames, log=log, memory=aligned)
    val_ds = build_dataset(data["val"], store, tok, fps, max_frames, log=log) if data.get("val") else None
    log(f"data: {len(train_ds)} train / {len(val_ds) if val_ds else 0} val samples")
    if dry_run:
        return None
    args = training_arguments(cfg["training"], val_ds is not None)
    if resume == "auto":
        resume = get_last_checkpoint(args.output_dir) if Path(args.output_dir).is_dir() else None
        if resume is None:
            raise ConfigError(f"--resume auto: no checkpoint-* folder in {args.output_dir}")
    elif resume and not Path(resume).is_dir():
        raise ConfigError(f"--resume {resume}: not a folder")
    first = train_ds[0]["frames"]
    vision_hidden = int(store.manifest.get("hidden_size") or first.shape[-1])
    dtype_name = mcfg.get("dtype", "auto")
    if dtype_name not in ("auto", "float32", "bfloat16", "float16"):
        raise ConfigError(f"model.dtype must be auto, float32, bfloat16 or float16, got {dtype_name!r}")
    dtype = (torch.bfloat16 if torch.cuda.is_available() else torch.float32) if dtype_name == "auto" \
        else getattr(torch, dtype_name)
    from transformers import set_seed  # noqa: PLC0415
    set_seed(args.seed)                                 # LoRA/connector init reproducible across runs
    try:
        model = build_model(mcfg["llm"], vision_hidden, lora, dtype, mcfg.get("init_adapter"))
    except OSError as e:
        raise ConfigError(f"model: cannot load {mcfg['llm']!r} / adapter {mcfg.get('init_adapter')!r}: "
                          f"{' '.join(str(e).split())[:300]}") from None
    if args.process_index == 0:
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        mode = "full training" if lora is None else f"LoRA r {lora.r}"
        log(f"model: {mcfg['llm']} ({dtype}, {mode}), trainable parameters {trainable:,}")
    loss_cfg = cfg.get("loss") or {}
    trainer = StreamTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=val_ds,
                            data_collator=StreamCollator(),
                            stream_loss_weight=loss_cfg.get("stream_loss_weight", 1.0),
                            token_weights=token_weights,
                            metric_samples=(cfg.get("eval") or {}).get("metric_samples", 32), fps=fps,
                            callbacks=callbacks)
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(args.output_dir)
    if trainer.is_world_process_zero():
        write_json_atomic(Path(args.output_dir) / "vstream_train.json", {"config": cfg, "resumed_from": resume})
        from ..engine.memory.context import write_context  # noqa: PLC0415
        context = trained_context(train_ds, fps, aligned[0] if aligned else None,
                                  f"vstream train (output_dir {args.output_dir})")
        write_context(args.output_dir, context)
        log(f"trained context: {context.describe()} (trained_context.json: the engine's default memory for it)")
        if lora is None:
            log(f"model: {args.output_dir} (full LiveLlamaForCausalLM folder; docs/training.md 'Full training' "
                "makes an engine checkpoint of it)")
        else:
            log(f"checkpoint: {args.output_dir} (vstream run VIDEO --model {args.output_dir})")
    return trainer


def main(args) -> int:
    from .dialogue import DialogueError  # noqa: PLC0415
    from .ego4d_narration import DatasetError  # noqa: PLC0415
    from .features import FeatureError  # noqa: PLC0415
    try:
        cfg = load_config(args.config, args.overrides)
        run(cfg, resume=args.resume, dry_run=args.dry_run)
    except (ConfigError, DatasetError, DialogueError, FeatureError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
