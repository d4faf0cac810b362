"""Full (non-LoRA) training from scratch of the demo's tiny Llama on synthetic stream dialogues.

Trained with the code of `vstream train` in full mode (`lora: false`): `train.trainer.StreamTrainer` (HF
Trainer, stream loss, lm_head applied only at labelled positions via logits_to_keep — 10×+ cheaper than
logits everywhere on a CPU) with TrainingArguments from `train.cli_train.training_arguments`, items in the
`train.dataset` format batched by `train.collator.StreamCollator`; dialogues encoded by
`train.dialogue.encode_dialogue` (exact template, pre-shifted labels). What is specific here: the model is
built from scratch (random init, tied embeddings; or continued from a saved demo LLM, `llm.init_from`) as a
`TrainableLiveLlama` (the engine's
LiveLlamaForCausalLM + a forward taking `frames`; it saves as LiveLlamaForCausalLM), the samples live in
memory, each step draws its batch at random (the original demo loop's draws, not epoch permutations), a
wall-time budget can stop training early, and two things teach it to name objects: a clip stage first (each
narration with the 2 frames before it) and object words up-weighted in the loss (docs/demo.md).

Imports: torch, transformers (Llama config, Trainer callbacks), engine.template, train.{dialogue, trainer,
cli_train, collator}. Never ROS.
"""
from __future__ import annotations

import dataclasses
import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

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
    object_word_weight: float = 1.0     # loss weight of colour / shape words in replies (object_token_weights)
    clip_frames: int = 2                # clip stage: each narration with the frames just before it …
    clip_steps: int = 0                 # … for this many steps (0 = no clip stage) …
    clip_batch: int = 32                # … of this many clips, before the full-dialogue steps
    seed: int = 0
    init_from: str | None = None        # a saved demo LLM folder (e.g. models/demo/llm) to continue training from
    #                                     instead of a seeded random init (the long-stream stage, demo_long.yaml)

    def __post_init__(self):
        if not self.object_word_weight >= 0:
            raise ValueError(f"llm: object_word_weight must be >= 0, got {self.object_word_weight}")
        if self.clip_steps < 0 or self.clip_frames < 1 or self.clip_batch < 1:
            raise ValueError(f"llm: clip_steps must be >= 0, clip_frames and clip_batch >= 1, got {self}")
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
    """Random seeded init (same weights as a LiveLlamaForCausalLM built from the same seed), or the weights saved in
    `s.init_from` (float32; its shape must be the settings' shape: ValueError otherwise)."""
    torch.manual_seed(s.seed)
    if s.init_from is None:
        return TrainableLiveLlama(llm_config(s, vision_hidden))
    folder = Path(s.init_from)
    if not (folder / "config.json").is_file():
        raise ValueError(f"llm.init_from {folder}: no config.json there (give a saved demo LLM folder, e.g. "
                         f"models/demo/llm)")
    model = TrainableLiveLlama.from_pretrained(str(folder), dtype=torch.float32)
    want, got = llm_config(s, vision_hidden), model.config
    for key in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                "vocab_size", "vision_hidden_size"):
        if getattr(want, key) != getattr(got, key, None):
            raise ValueError(f"llm.init_from {folder}: {key} is {getattr(got, key, None)}, the config says "
                             f"{getattr(want, key)} (the llm section must describe the saved model)")
    model.tie_weights()
    return model


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


def object_word_ids(tokenizer) -> dict[str, list[int]]:
    """{"colour": ids, "shape": ids} of the object words the narrations use, in their leading-space form
    (" red", " cup"); each must be one token."""
    from vstream_lab.synth.labels import COLOUR_NAMES  # noqa: PLC0415

    from .data import SHAPE_NAMES  # noqa: PLC0415
    out = {}
    for kind, words in (("colour", COLOUR_NAMES), ("shape", SHAPE_NAMES)):
        out[kind] = []
        for word in words:
            ids = tokenizer.encode(" " + word, add_special_tokens=False)
            if len(ids) != 1:
                raise ValueError(f"object word {word!r} is {len(ids)} tokens; the object-word loss needs one")
            out[kind].append(ids[0])
    return out


def object_token_weights(tokenizer, weight: float) -> dict[int, float]:
    """{token id: weight} for the object words (object_word_ids): the stream loss scales them by `weight`
    (1 = plain loss, {}). Up-weighting them, with the clip stage, is what makes the tiny LLM learn to read the
    object off the frames instead of guessing it from the sentence (docs/demo.md)."""
    if weight == 1.0:
        return {}
    return {i: float(weight) for ids in object_word_ids(tokenizer).values() for i in ids}


@torch.no_grad()
def object_word_picks(model, samples: list[dict], word_ids: dict[str, list[int]], first_only: bool = False):
    """Teacher-forced: yields (kind, target id, picked id) at every reply position whose target is an object word
    of that kind ("colour" / "shape"), picked = the model's most likely word among that kind's ids.
    first_only: only the first such position of each kind per sample (the first object of a narration clip)."""
    from vstream_ros.engine.live_model import embed_stream  # noqa: PLC0415
    tables = {k: torch.tensor(ids) for k, ids in word_ids.items()}
    for smp in samples:
        labels = smp["labels"]
        where = {k: torch.isin(labels, t).nonzero()[:, 0] for k, t in tables.items()}
        if first_only:
            where = {k: at[:1] for k, at in where.items()}
        if not any(at.numel() for at in where.values()):
            continue
        ids = smp["input_ids"][None]
        h = model.model(inputs_embeds=embed_stream(model, ids, smp["frames"]), use_cache=False).last_hidden_state[0]
        for kind, at in where.items():
            if at.numel():
                table = tables[kind]
                picks = table[model.lm_head(h[at])[:, table].argmax(-1)]
                yield from ((kind, int(y), int(q)) for y, q in zip(labels[at].tolist(), picks.tolist()))


def object_word_accuracy(model, samples: list[dict], word_ids: dict[str, list[int]]) -> dict:
    """Teacher-forced: at every reply position whose target is an object word, is the model's most likely word
    of that kind (colour among colours, shape among shapes) the right one? {kind: accuracy, kind_n: count}.
    Chance is 1/8 for colours; the model shipped before the clip stage scored 0.13 on the validation worlds."""
    hit = {k: 0 for k in word_ids}
    cnt = {k: 0 for k in word_ids}
    for kind, target, pick in object_word_picks(model, samples, word_ids):
        hit[kind] += int(pick == target)
        cnt[kind] += 1
    out = {}
    for k in word_ids:
        out[k] = round(hit[k] / cnt[k], 4) if cnt[k] else float("nan")
        out[f"{k}_n"] = cnt[k]
    return out


def make_samples(dialogues, features: dict, tokenizer, memory=None) -> list[dict]:
    """Encode dialogues (user turns dropped, see proactive_only) and attach their frames
    ([T, 10, Dv] per video uid, rows = model frames). `memory` = (MemoryConfig, sample_every): memory-aligned
    samples instead (the product's train/aligned.py: the runtime cache's layout at each moment of the stream)."""
    out = []
    for d in dialogues:
        enc = encode_dialogue(proactive_only(d.conversation), tokenizer)
        feats = features[d.video_uid][d.start_frame:d.start_frame + enc.num_frames]
        if feats.shape[0] != enc.num_frames:
            raise ValueError(f"{d.video_uid}: dialogue needs {enc.num_frames} frames, features hold {feats.shape[0]}")
        if memory is None:
            out.append({"input_ids": torch.tensor(enc.input_ids), "labels": torch.tensor(enc.labels),
                        "frames": feats})
            continue
        from vstream_ros.train.aligned import build_item, plan_dialogue  # noqa: PLC0415
        cfg, every = memory
        plans = plan_dialogue(enc.input_ids, enc.labels, feats[:, 0, :].float().numpy(), cfg, d.fps)
        out += [build_item(enc.input_ids, enc.labels, feats, plan) for plan in plans[::every]]
    return out


def narration_clips(dialogues, features: dict, tokenizer, frames: int) -> list[dict]:
    """One short sample per narration: the `frames` frames just before it (fewer at the very start) and the
    sentence, in the same format as make_samples. A narration says what the last frames show, so in a clip the
    model has only those frames to read the object from: the clip stage teaches it to look there, which it
    does not discover in ~1,400-token dialogues (docs/demo.md)."""
    out = []
    for d in dialogues:
        conv = proactive_only(d.conversation)
        feats = features[d.video_uid]
        pos = d.start_frame
        for j, m in enumerate(conv):
            if m["role"] == "stream":
                pos += m["num_frames"]
                continue
            if m["role"] != "assistant" or j == 0 or conv[j - 1]["role"] != "stream":
                continue
            n = min(int(frames), conv[j - 1]["num_frames"])
            enc = encode_dialogue([{"role": "stream", "num_frames": n, "learn": True}, dict(m)], tokenizer)
            if pos > feats.shape[0]:
                raise ValueError(f"{d.video_uid}: narration after frame {pos}, features hold {feats.shape[0]}")
            out.append({"input_ids": torch.tensor(enc.input_ids), "labels": torch.tensor(enc.labels),
                        "frames": feats[pos - n:pos]})
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

    def __init__(self, log, time_budget_s: float | None, stage: str = "llm"):
        self.log, self.budget, self.stage = log, time_budget_s, stage
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
                self.log(f"  {self.stage}: time budget {self.budget:g} s reached at step {state.global_step}")
        return control

    def on_log(self, args, state, control, logs=None, **kw):
        if self.log and logs and "loss" in logs:
            self.log(f"  {self.stage} step {state.global_step:4d}/{state.max_steps}  loss {logs['loss']:.3f}  "
                     f"stream_ce {logs.get('stream_ce', float('nan')):.3f}  lm_ce {logs.get('lm_ce', float('nan')):.3f}"
                     f"  ({time.time() - self.t0:.0f} s)")


def training_args(s: LLMSettings, output_dir: str, schedule: str = "cosine"):
    """LLMSettings → TrainingArguments through `vstream train`'s own builder (full-training schedule)."""
    from vstream_ros.train.cli_train import training_arguments  # noqa: PLC0415
    cuda = torch.cuda.is_available()
    tcfg = {"output_dir": output_dir, "max_steps": s.steps, "per_device_train_batch_size": s.batch,
            "gradient_accumulation_steps": 1, "learning_rate": s.lr, "warmup_steps": int(s.warmup),
            "lr_scheduler_type": schedule, "weight_decay": 0.0, "adam_beta2": 0.98, "max_grad_norm": 1.0,
            "seed": s.seed, "data_seed": s.seed, "use_cpu": not cuda, "bf16": "auto" if cuda else False,
            "tf32": "auto" if cuda else False, "gradient_checkpointing": False, "save_strategy": "no",
            "eval_strategy": "no", "report_to": "none", "logging_strategy": "steps", "logging_steps": 50,
            "dataloader_num_workers": 0, "dataloader_pin_memory": cuda, "disable_tqdm": True}
    return training_arguments(tcfg, has_val=False)


def train_llm(model, samples: list[dict], s: LLMSettings, log=print, time_budget_s: float | None = None,
              token_weights: dict[int, float] | None = None, clips: list[dict] | None = None) -> dict:
    """Train every weight of `model` (a TrainableLiveLlama, see build_llm) with StreamTrainer: AdamW (β2 0.98,
    no weight decay, clip 1.0); `token_weights` ({target id: weight}, see object_token_weights) scale the loss
    of those reply tokens.

    Clip stage (when `s.clip_steps` and `clips`, see narration_clips): `s.clip_steps` steps of `s.clip_batch`
    random clips, linear warm-up over `s.warmup` steps then a constant learning rate. Then `s.steps` steps of
    `s.batch` random dialogues (StepSampler), a fresh optimizer, warm-up then cosine decay to 0.
    `time_budget_s` caps the wall time of the two stages together.

    Returns {steps, seconds, stream_ce, lm_ce (EMAs of the dialogue stage's training parts)} plus
    {clip_steps, clip_seconds} after a clip stage. The model ends in eval mode, frozen, on the CPU, its config's
    `use_cache` as it was (the Trainer sets it from TrainingArguments.use_cache)."""
    if not isinstance(model, TrainableLiveLlama):
        raise TypeError(f"train_llm needs a TrainableLiveLlama (build_llm), got {type(model).__name__}")
    t0 = time.time()
    use_cache = model.config.use_cache
    stats = {}
    try:
        if s.clip_steps and clips:
            cs = dataclasses.replace(s, steps=s.clip_steps, batch=s.clip_batch)
            steps, _ = _stage(model, clips, cs, log, time_budget_s, token_weights, "clip", "constant_with_warmup")
            stats = {"clip_steps": steps, "clip_seconds": time.time() - t0}
        left = None if time_budget_s is None else max(0.0, time_budget_s - (time.time() - t0))
        steps, ema = _stage(model, samples, s, log, left, token_weights, "llm", "cosine")
    finally:
        model.config.use_cache = use_cache
        model.to("cpu").eval().requires_grad_(False)
    return {"steps": steps, "seconds": time.time() - t0, **ema, **stats}


def _stage(model, samples, s: LLMSettings, log, budget, token_weights, stage: str, schedule: str):
    """One DemoTrainer run: (steps done, EMA of the training parts)."""
    from transformers.trainer_callback import PrinterCallback  # noqa: PLC0415
    model.requires_grad_(True)
    progress = _Progress(log, budget, stage)
    out = tempfile.mkdtemp(prefix="vstream-llm-train-")
    try:
        trainer = DemoTrainer(model=model, args=training_args(s, out, schedule), train_dataset=SampleDataset(samples),
                              data_collator=StreamCollator(), stream_loss_weight=s.stream_loss_weight,
                              token_weights=token_weights, metric_samples=0, callbacks=[progress])
        trainer.remove_callback(PrinterCallback)            # disable_tqdm prints every log dict: `log` does it
        progress.trainer = trainer
        trainer.train()
        return trainer.state.global_step, progress.ema
    finally:
        shutil.rmtree(out, ignore_errors=True)
