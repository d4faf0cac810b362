"""Training of the VideoLLM-online LLM on stream dialogues with the HF Trainer (single GPU, torchrun,
accelerate or DeepSpeed ZeRO-2/3 — the Trainer does all distribution; nothing home-made here).

    vstream train --config config/train/live1plus_8b.yaml [--resume auto|DIR] [--set training.max_steps=10]

Model: `TrainableLiveLlama` = engine LiveLlamaForCausalLM whose forward also accepts `frames` and embeds
them itself (so DDP/DeepSpeed see the connector inside the wrapped forward); module names are unchanged.
Two modes (`build_model`):
- LoRA (default): a PEFT adapter (LoRA r 128 / α 256 / dropout 0.05 on the upstream regex + `connector` in
  modules_to_save) saved in the published layout that engine.checkpoint.load_live_model and the original
  code read;
- full (`lora: false` in the config, `lora=None` here): no PEFT, every parameter (connector included) is
  trained and saved as a whole LiveLlamaForCausalLM folder (config with `vision_hidden_size`, tied
  embeddings stay tied) — for small models trained from scratch such as the demo model (demo.llm_train).
Loss: train.loss.stream_loss on the labelled positions only (lm_head runs just there via logits_to_keep).
Eval: eval_loss plus the teacher-forced streaming metrics (engine.teacher_forced) on the val split.

Imports: torch, transformers, peft, engine.live_model/template, train.*. Never ROS.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import Trainer

from vstream_ros.engine.live_model import LiveLlamaForCausalLM, embed_stream
from vstream_ros.engine.template import load_tokenizer

from .loss import IGNORE, stream_loss, token_weight_table
from vstream_ros.engine.teacher_forced import aggregate, sample_metrics

UPSTREAM_TARGET_REGEX = r"model.*(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)|lm_head$"


class TrainableLiveLlama(LiveLlamaForCausalLM):
    """LiveLlamaForCausalLM whose forward takes `frames` [F, 10, Dv] and builds inputs_embeds itself.

    Saved folders name the engine class (`architectures: [LiveLlamaForCausalLM]`): the training forward adds
    no weight, so a saved model is an ordinary engine LLM folder."""

    def forward(self, input_ids=None, frames=None, inputs_embeds=None, **kwargs):
        if inputs_embeds is None and input_ids is not None:
            inputs_embeds = embed_stream(self, input_ids, frames)
            input_ids = None
        return super().forward(input_ids=input_ids, inputs_embeds=inputs_embeds, **kwargs)

    def save_pretrained(self, save_directory, *args, **kwargs):
        super().save_pretrained(save_directory, *args, **kwargs)
        engine_name = [LiveLlamaForCausalLM.__name__]
        self.config.architectures = engine_name
        cfg_path = Path(save_directory) / "config.json"
        if kwargs.get("is_main_process", args[0] if args else True) and cfg_path.is_file():
            cfg = json.loads(cfg_path.read_text())
            if cfg.get("architectures") != engine_name:
                cfg["architectures"] = engine_name
                cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


@dataclass
class LoraSettings:
    r: int = 128
    alpha: int = 256
    dropout: float = 0.05
    target_modules: str = UPSTREAM_TARGET_REGEX
    modules_to_save: list = field(default_factory=lambda: ["connector"])

    def __post_init__(self):
        if self.r < 1 or self.alpha <= 0 or not (0 <= self.dropout < 1):
            raise ValueError(f"lora: r must be >= 1, alpha > 0, dropout in [0, 1); got {self}")
        if "connector" not in self.modules_to_save:
            raise ValueError("lora.modules_to_save must contain 'connector' (the engine loads it from the adapter)")


def build_model(llm: str, vision_hidden: int, lora: LoraSettings | None, dtype: torch.dtype,
                init_adapter: str | None = None):
    """Base LLM (+ its connector, or a fresh one initialised from the global RNG when the folder has none —
    a plain Llama folder; callers seed with transformers.set_seed) wrapped with a trainable PEFT LoRA adapter,
    or, with `lora=None` (full training), the base itself with every parameter trainable."""
    from peft import LoraConfig, PeftModel, get_peft_model  # noqa: PLC0415
    from transformers import AutoConfig  # noqa: PLC0415

    if lora is None and init_adapter:
        raise ValueError("full training (lora=None) cannot start from a LoRA adapter (init_adapter)")
    cfg = AutoConfig.from_pretrained(llm)
    cfg.vision_hidden_size = int(vision_hidden)
    base = TrainableLiveLlama.from_pretrained(llm, config=cfg, dtype=dtype)
    base.config.use_cache = False
    if lora is None:
        return base.requires_grad_(True)
    if init_adapter:
        return PeftModel.from_pretrained(base, init_adapter, is_trainable=True)
    peft_cfg = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                          target_modules=lora.target_modules, modules_to_save=list(lora.modules_to_save),
                          bias="none", task_type="CAUSAL_LM")
    return get_peft_model(base, peft_cfg)


def is_peft(model) -> bool:
    from peft import PeftModel  # noqa: PLC0415
    return isinstance(model, PeftModel)


class StreamTrainer(Trainer):
    """HF Trainer with the stream loss and streaming metrics at evaluation; LoRA (PEFT model) or full training
    (plain TrainableLiveLlama). `last_parts` holds the stream_ce / lm_ce of the latest training micro-batch."""

    loss_is_scaled_for_ga = False          # our loss is a per-micro-batch mean: let the Trainer divide by GA

    def __init__(self, *args, stream_loss_weight: float = 1.0, metric_samples: int = 32, fps: float = 2.0,
                 token_weights: dict[int, float] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.stream_loss_weight = float(stream_loss_weight)
        self.token_weights = token_weight_table(token_weights)     # {target id: weight} on LM positions
        self.metric_samples = int(metric_samples)
        self.fps = fps
        self._parts = {"stream_ce": 0.0, "lm_ce": 0.0, "n": 0}
        self.last_parts: dict = {}

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs["labels"]
        keep = (labels != IGNORE).any(0).nonzero()[:, 0]                       # [K] labelled columns
        if keep.numel() == 0:
            keep = torch.zeros(1, dtype=torch.long, device=labels.device)
        out = model(input_ids=inputs["input_ids"], frames=inputs["frames"], attention_mask=inputs["attention_mask"],
                    position_ids=inputs["position_ids"], logits_to_keep=keep, use_cache=False)
        if self.token_weights is not None and self.token_weights.device != labels.device:
            self.token_weights = self.token_weights.to(labels.device)          # once, not every step
        loss, parts = stream_loss(out.logits, labels[:, keep], inputs["input_ids"][:, keep], self.stream_loss_weight,
                                  self.token_weights)
        if model.training:
            self._parts["stream_ce"] += parts["stream_ce"]
            self._parts["lm_ce"] += parts["lm_ce"]
            self._parts["n"] += 1
            self.last_parts = parts
        return (loss, out) if return_outputs else loss

    def _save(self, output_dir=None, state_dict=None):
        """LoRA: the adapter in the published layout, LoRA + connector only (PEFT would otherwise also save the
        full embed_tokens/lm_head — the target regex names lm_head —, ≈2 GB for the 8B model).
        Full: the whole model (config + safetensors, connector included; tied embeddings saved once and
        re-tied on load), loadable with TrainableLiveLlama / LiveLlamaForCausalLM.from_pretrained."""
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if not self.args.should_save and not getattr(self, "is_distributed_loading_by_transformers", False):
            return
        if self.args.should_save:
            os.makedirs(output_dir, exist_ok=True)
        model = self.accelerator.unwrap_model(self.model)
        if is_peft(model):
            model.save_pretrained(output_dir, state_dict=state_dict, is_main_process=self.args.should_save,
                                  safe_serialization=True, save_embedding_layers=False)
        else:                                   # transformers 5 always writes safetensors
            model.save_pretrained(output_dir, state_dict=state_dict, is_main_process=self.args.should_save)
        if self.args.should_save:
            torch.save(self.args, os.path.join(output_dir, "training_args.bin"))

    def log(self, logs, start_time=None):
        if self._parts["n"] and "loss" in logs:
            n = self._parts["n"]
            logs["stream_ce"] = round(self._parts["stream_ce"] / n, 4)
            logs["lm_ce"] = round(self._parts["lm_ce"] / n, 4)
            self._parts = {"stream_ce": 0.0, "lm_ce": 0.0, "n": 0}
        super().log(logs, start_time)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
        metrics = super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        ds = eval_dataset if eval_dataset is not None else self.eval_dataset
        if ds is None or self.metric_samples <= 0:
            return metrics
        if self.is_deepspeed_enabled and self.accelerator.state.deepspeed_plugin.zero_stage == 3:
            return metrics          # sharded weights: per-rank free forwards would deadlock; see docs/training.md
        stream = self.streaming_metrics(ds)
        stream = {f"{metric_key_prefix}_{k}": v for k, v in stream.items()}
        self.log(stream)
        metrics.update(stream)
        return metrics

    @torch.no_grad()
    def streaming_metrics(self, ds) -> dict:
        """Teacher-forced metrics on the first `metric_samples` val samples, sharded over ranks."""
        model = self.accelerator.unwrap_model(self.model)
        was_training = model.training
        model.eval()
        device = self.args.device
        rank, world = self.args.process_index, self.args.world_size
        n = min(len(ds), self.metric_samples)

        def forward(ids, frames):
            with self.autocast_smart_context_manager():
                out = model(input_ids=ids[None].to(device), frames=frames.to(device), use_cache=False)
            return out.logits[0].float().cpu()

        got = []
        for i in range(rank, n, world):
            item = ds[i]
            got.append(sample_metrics(forward, item["input_ids"], item["labels"], item["frames"]))
        if was_training:
            model.train()
        agg = aggregate(got, self.fps) if got else {"lm_ppl": 0.0, "lm_correctness": 0.0, "time_diff": 0.0,
                                                      "fluency": 0.0, "samples": 0}
        if world > 1 and torch.distributed.is_initialized():
            keys = ["lm_ppl", "lm_correctness", "time_diff", "fluency"]
            t = torch.tensor([agg[k] * agg["samples"] for k in keys] + [agg["samples"]], device=device,
                             dtype=torch.float64)
            torch.distributed.all_reduce(t)
            total = max(float(t[-1]), 1.0)
            agg = {k: float(t[j]) / total for j, k in enumerate(keys)}
            agg["samples"] = int(t[-1])
        return agg


def tokenizer_for(llm: str):
    """The LLM folder's tokenizer when it has one, else the bundled Llama-3 tokenizer (same ids)."""
    p = Path(llm)
    if p.is_dir() and not any((p / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json")):
        return load_tokenizer()
    return load_tokenizer(llm)
