"""Full (non-LoRA) training from scratch of the demo's tiny Llama on synthetic stream dialogues.

Trained with the code of `vstream train` in full mode (`lora: false`): `train.trainer.StreamTrainer` (HF
Trainer, stream loss, lm_head applied only at labelled positions via logits_to_keep — 10×+ cheaper than
logits everywhere on a CPU) with TrainingArguments from `train.cli_train.training_arguments`, items in the
`train.dataset` format batched by `train.collator.StreamCollator`; dialogues encoded by
`train.dialogue.encode_dialogue` (exact template, pre-shifted labels). What is specific here: the model is
built from scratch (random init, tied embeddings) as a `TrainableLiveLlama` (the engine's
LiveLlamaForCausalLM + a forward taking `frames`; it saves as LiveLlamaForCausalLM), the samples live in
memory, each step draws its batch at random (the original demo loop's draws, not epoch permutations), and a
wall-time budget can stop training early.

Imports: torch, transformers (Llama config, Trainer callbacks), engine.template, train.{dialogue, trainer,
cli_train, collator}. Never ROS.
"""
from __future__ import annotations

import random
import shutil
import tempfile
import time
from dataclasses import dataclass

import torch
from transformers import TrainerCallback

from vstream_ros.engine.template import TEXT_VOCAB_SIZE
from vstream_ros.train.collator import StreamCollator
from vstream_ros.train.dialogue import encode_dialogue
from vstream_ros.train.trainer import StreamTrainer, TrainableLiveLlama


@dataclass(frozen=True)
class LLMSettings:
    hidden: int = 48
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    intermediate: int = 192
    steps: int = 400
    batch: int = 2
    lr: float = 3e-3
    warmup: int = 30
    stream_loss_weight: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if self.hidden % self.heads or (self.hidden // self.heads) % 2 or self.heads % self.kv_heads:
            raise ValueError(f"llm: hidden/heads must be even and heads divisible by kv_heads, got {self}")


def llm_config(s: LLMSettings, vision_hidden: int):
    from transformers import LlamaConfig  # noqa: PLC0415
    cfg = LlamaConfig(vocab_size=TEXT_VOCAB_SIZE, hidden_size=s.hidden, intermediate_size=s.intermediate,
                      num_hidden_layers=s.layers, num_attention_heads=s.heads, num_key_value_heads=s.kv_heads,
                      max_position_embeddings=16384, rope_theta=10000.0, rms_norm_eps=1e-5,
                      tie_word_embeddings=True, bos_token_id=128000, eos_token_id=128009, initializer_range=0.02)
    cfg.vision_hidden_size = int(vision_hidden)
    return cfg


def build_llm(s: LLMSettings, vision_hidden: int) -> TrainableLiveLlama:
    """Random seeded init (same weights as a LiveLlamaForCausalLM built from the same seed)."""
    torch.manual_seed(s.seed)
    return TrainableLiveLlama(llm_config(s, vision_hidden))


def proactive_only(conv: list[dict]) -> list[dict]:
    """Drop user turns and merge the streams around them (every frame learned).

    The demo narrates unprompted: the engine feeds `system, [frames…` with no instruction, so the model is
    trained on exactly that token stream (an instruction turn would be followed by an engine reply that the
    narration dialogues never contain)."""
    out: list[dict] = []
    for m in conv:
        if m["role"] == "user":
            continue
        if m["role"] == "stream" and out and out[-1]["role"] == "stream":
            out[-1] = {"role": "stream", "num_frames": out[-1]["num_frames"] + m["num_frames"], "learn": True}
        else:
            out.append(dict(m))
    return out


def make_samples(dialogues, features: dict, tokenizer) -> list[dict]:
    """Encode dialogues (user turns dropped, see proactive_only) and attach their frames
    ([T, 10, Dv] per video uid, rows = model frames)."""
    out = []
    for d in dialogues:
        enc = encode_dialogue(proactive_only(d.conversation), tokenizer)
        feats = features[d.video_uid][d.start_frame:d.start_frame + enc.num_frames]
        if feats.shape[0] != enc.num_frames:
            raise ValueError(f"{d.video_uid}: dialogue needs {enc.num_frames} frames, features hold {feats.shape[0]}")
        out.append({"input_ids": torch.tensor(enc.input_ids), "labels": torch.tensor(enc.labels), "frames": feats})
    return out


class SampleDataset(torch.utils.data.Dataset):
    """In-memory samples as `train.dataset.StreamDataset` items: {input_ids, labels, frames [F, 10, Dv]}."""

    def __init__(self, samples: list[dict]):
        if not samples:
            raise ValueError("no training sample")
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        s = self.samples[i]
        return {"input_ids": s["input_ids"], "labels": s["labels"], "frames": s["frames"]}


class StepSampler(torch.utils.data.Sampler):
    """`steps` batches of `batch` distinct random samples each (sampling with replacement across steps), drawn
    with `random.Random(seed).sample` (the original demo loop's draws; the shipped weights were trained with
    them). Yields flat indices: the DataLoader cuts them into batches of `batch`."""

    def __init__(self, n: int, batch: int, steps: int, seed: int):
        self.n, self.batch, self.steps, self.seed = n, min(batch, n), steps, seed

    def __len__(self) -> int:
        return self.steps * self.batch

    def __iter__(self):
        rng = random.Random(self.seed)
        for _ in range(self.steps):
            yield from rng.sample(range(self.n), self.batch)


class DemoTrainer(StreamTrainer):
    """StreamTrainer drawing each step's batch at random (StepSampler) instead of epoch permutations."""

    def _get_train_sampler(self, train_dataset=None):
        ds = train_dataset if train_dataset is not None else self.train_dataset
        return StepSampler(len(ds), self.args.per_device_train_batch_size, self.args.max_steps, self.args.seed)


class _Progress(TrainerCallback):
    """Running EMA of the training parts (StreamTrainer.last_parts), progress lines through `log`, a log at
    the first and last step, and the wall-time budget."""

    def __init__(self, log, time_budget_s: float | None):
        self.log, self.budget = log, time_budget_s
        self.trainer = None                     # set once the trainer exists
        self.t0 = time.time()
        self.ema: dict = {}

    def on_train_begin(self, args, state, control, **kw):
        self.t0 = time.time()

    def on_step_end(self, args, state, control, **kw):
        parts = self.trainer.last_parts if self.trainer is not None else {}
        for k in ("stream_ce", "lm_ce"):
            if k in parts:
                self.ema[k] = parts[k] if k not in self.ema else 0.9 * self.ema[k] + 0.1 * parts[k]
        if state.global_step in (1, state.max_steps):
            control.should_log = True
        if self.budget is not None and time.time() - self.t0 > self.budget and not control.should_training_stop:
            control.should_training_stop = control.should_log = True
            if self.log:
                self.log(f"  llm: time budget {self.budget:g} s reached at step {state.global_step}")
        return control

    def on_log(self, args, state, control, logs=None, **kw):
        if self.log and logs and "loss" in logs:
            self.log(f"  llm step {state.global_step:4d}/{state.max_steps}  loss {logs['loss']:.3f}  "
                     f"stream_ce {logs.get('stream_ce', float('nan')):.3f}  lm_ce {logs.get('lm_ce', float('nan')):.3f}"
                     f"  ({time.time() - self.t0:.0f} s)")


def training_args(s: LLMSettings, output_dir: str):
    """LLMSettings → TrainingArguments through `vstream train`'s own builder (full-training schedule)."""
    from vstream_ros.train.cli_train import training_arguments  # noqa: PLC0415
    cuda = torch.cuda.is_available()
    tcfg = {"output_dir": output_dir, "max_steps": s.steps, "per_device_train_batch_size": s.batch,
            "gradient_accumulation_steps": 1, "learning_rate": s.lr, "warmup_steps": int(s.warmup),
            "lr_scheduler_type": "cosine", "weight_decay": 0.0, "adam_beta2": 0.98, "max_grad_norm": 1.0,
            "seed": s.seed, "data_seed": s.seed, "use_cpu": not cuda, "bf16": "auto" if cuda else False,
            "tf32": "auto" if cuda else False, "gradient_checkpointing": False, "save_strategy": "no",
            "eval_strategy": "no", "report_to": "none", "logging_strategy": "steps", "logging_steps": 50,
            "dataloader_num_workers": 0, "dataloader_pin_memory": cuda, "disable_tqdm": True}
    return training_arguments(tcfg, has_val=False)


def train_llm(model, samples: list[dict], s: LLMSettings, log=print, time_budget_s: float | None = None) -> dict:
    """Train every weight of `model` (a TrainableLiveLlama, see build_llm) for `s.steps` steps of `s.batch`
    random samples (StepSampler) with StreamTrainer: AdamW (β2 0.98, no weight decay, clip 1.0), linear
    warm-up over `s.warmup` steps then cosine decay to 0. Returns {steps, seconds, stream_ce, lm_ce (EMAs of
    the training parts)}. The model ends in eval mode, frozen, on the CPU, its config's `use_cache` as it was
    (the Trainer sets it from TrainingArguments.use_cache)."""
    from transformers.trainer_callback import PrinterCallback  # noqa: PLC0415

    if not isinstance(model, TrainableLiveLlama):
        raise TypeError(f"train_llm needs a TrainableLiveLlama (build_llm), got {type(model).__name__}")
    model.requires_grad_(True)
    use_cache = model.config.use_cache
    progress = _Progress(log, time_budget_s)
    out = tempfile.mkdtemp(prefix="vstream-llm-train-")
    try:
        trainer = DemoTrainer(model=model, args=training_args(s, out), train_dataset=SampleDataset(samples),
                              data_collator=StreamCollator(), stream_loss_weight=s.stream_loss_weight,
                              metric_samples=0, callbacks=[progress])
        trainer.remove_callback(PrinterCallback)            # disable_tqdm prints every log dict: `log` does it
        progress.trainer = trainer
        trainer.train()
        steps = trainer.state.global_step
    finally:
        shutil.rmtree(out, ignore_errors=True)
    model.config.use_cache = use_cache
    model.to("cpu").eval().requires_grad_(False)
    return {"steps": steps, "seconds": time.time() - progress.t0, **progress.ema}
