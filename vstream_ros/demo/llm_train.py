"""Full (non-LoRA) training from scratch of the demo's tiny Llama on synthetic stream dialogues.

Reuses the training package for everything that defines the task: `train.dialogue.encode_dialogue` (exact
template, pre-shifted labels), `train.collator.StreamCollator` (padding, position ids, frame order) and
`train.loss.stream_loss` (frame-decision + LM cross-entropy). What is specific here: every weight is trained
(the model starts random), and the tied 128,256-row head is applied only at labelled positions (the hidden
states are gathered first), which is 10×+ cheaper than logits everywhere on a CPU.

Imports: torch, transformers (Llama config), engine.model/template, train.{dialogue, collator, loss}.
Never ROS.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

import torch

from vstream_ros.engine.model import LiveLlamaForCausalLM, embed_stream
from vstream_ros.engine.template import TEXT_VOCAB_SIZE
from vstream_ros.train.collator import StreamCollator
from vstream_ros.train.dialogue import encode_dialogue
from vstream_ros.train.loss import IGNORE, stream_loss


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


def build_llm(s: LLMSettings, vision_hidden: int) -> LiveLlamaForCausalLM:
    torch.manual_seed(s.seed)
    return LiveLlamaForCausalLM(llm_config(s, vision_hidden))


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


def batch_loss(model, batch: dict, stream_loss_weight: float = 1.0) -> tuple[torch.Tensor, dict]:
    """Stream loss of a collated batch with the (tied) head applied at labelled positions only."""
    embeds = embed_stream(model, batch["input_ids"], batch["frames"])
    hidden = model.model(inputs_embeds=embeds, attention_mask=batch["attention_mask"],
                         position_ids=batch["position_ids"], use_cache=False).last_hidden_state
    mask = batch["labels"] != IGNORE
    logits = model.lm_head(hidden[mask])                       # [n, V] only where a target exists
    return stream_loss(logits, batch["labels"][mask], batch["input_ids"][mask], stream_loss_weight)


def train_llm(model, samples: list[dict], s: LLMSettings, log=print, time_budget_s: float | None = None) -> dict:
    """AdamW + linear warm-up + cosine decay over `s.steps` steps of `s.batch` random samples."""
    collate = StreamCollator()
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=0.0, betas=(0.9, 0.98))

    def lr_at(step):
        if step < s.warmup:
            return (step + 1) / s.warmup
        return 0.5 * (1 + math.cos(math.pi * (step - s.warmup) / max(1, s.steps - s.warmup))) * 0.95 + 0.05

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    rng = random.Random(s.seed)
    model.train()
    t0 = time.time()
    ema: dict = {}
    for step in range(s.steps):
        batch = collate(rng.sample(samples, min(s.batch, len(samples))))
        loss, parts = batch_loss(model, batch, s.stream_loss_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        for k in ("stream_ce", "lm_ce"):
            ema[k] = parts[k] if k not in ema else 0.9 * ema[k] + 0.1 * parts[k]
        if log and (step % 50 == 0 or step == s.steps - 1):
            log(f"  llm step {step:4d}/{s.steps}  loss {loss.item():.3f}  stream_ce {ema['stream_ce']:.3f}  "
                f"lm_ce {ema['lm_ce']:.3f}  ({time.time() - t0:.0f} s)")
        if time_budget_s is not None and time.time() - t0 > time_budget_s:
            if log:
                log(f"  llm: time budget {time_budget_s:g} s reached at step {step}")
            break
    model.eval().requires_grad_(False)
    return {"steps": step + 1, "seconds": time.time() - t0, **ema}
