"""Train the demo model end to end on synthetic worlds and save it in the published layout.

    python -m vstream_lab.demo_model.train_demo --config config/train/demo.yaml --out models/demo

Steps: render training worlds on the 2-fps model grid → pre-train the small SigLIP tower on per-frame
labels (demo.vision_pretrain) and freeze it → extract the engine's 10 tokens per frame with the
fp16-rounded tower (what inference will see) → build the narration stream dialogues of the worlds
(synth.truth.stream_dialogue) → train the tiny Llama from scratch (demo.llm_train: a clip stage, then full
dialogues; object words up-weighted) → teacher-forced object-word accuracy on the validation worlds → export
(demo.export). Deterministic for a given config on one machine (seeded; CPU float32).

Config (YAML, every key optional): data {worlds, vision_worlds, vision_sets, vision_idle_frames, valid_worlds,
duration, fps, seed0}, vision {… VisionSettings}, llm {… LLMSettings}, threads.

Imports: torch, yaml, synth.*, train.dialogue (via llm_train), demo.*. Never ROS.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vstream_lab.synth import truth

from .data import (TRAIN_SEED0, VALID_SEED0, WorldFrames, make_config, patch_shape_targets, patch_targets,
                   render_world, vision_targets)
from .llm_train import (LLMSettings, build_llm, make_samples, narration_clips, object_token_weights,
                        object_word_accuracy, object_word_ids, train_llm)
from .vision_pretrain import VisionSettings, encode_frames, pretrain_vision_sets, release_freed_memory


@dataclass(frozen=True)
class DataSettings:
    worlds: int = 48            # training worlds (LLM dialogues)
    vision_worlds: int = 24     # worlds (same seeds, from seed0) that pre-train the vision tower; may exceed `worlds`
    vision_sets: int = 1        # … times this many: successive sets of `vision_worlds` further worlds, one in RAM at a
    #                             time (vision_pretrain.pretrain_vision_sets), vision steps split evenly over them
    vision_idle_frames: int | None = None   # per vision world keep every busy frame (hand event, contact, held
    #                             object, narration onset) + this many random idle ones; None = every frame
    valid_worlds: int = 4       # validation worlds (VALID_SEED0…) for the tower's reported accuracy; 0 = none
    duration: float = 60.0
    fps: float = 2.0
    seed0: int = TRAIN_SEED0
    memory: dict | None = None  # memory-aligned LLM samples (`vstream train`'s data.memory: policy, budget_tokens,
    #                             recent_frames, sample_every, MemoryConfig tiers); None = whole dialogues
    qa: dict | None = None      # question–answer samples over recalled memory (demo_model/qa.py; needs memory):
    #                             per_sample, offset_minutes, offsets_per_world, items_per_offset, context, seed;
    #                             None = narration only

    def memory_settings(self):
        """(MemoryConfig, sample_every) or None (product train.cli_train.memory_settings)."""
        from vstream_ros.train.cli_train import memory_settings  # noqa: PLC0415
        return memory_settings({"fps": self.fps, "memory": self.memory})

    def __post_init__(self):
        if self.worlds < 1 or self.vision_worlds < 1 or self.vision_sets < 1:
            raise ValueError(f"data: need worlds, vision_worlds and vision_sets >= 1, got {self}")
        if self.qa is not None:
            bad = set(self.qa) - {"per_sample", "offset_minutes", "offsets_per_world", "items_per_offset", "context",
                                  "seed"}
            if bad or self.memory is None:
                raise ValueError(f"data.qa: allowed keys per_sample, offset_minutes, offsets_per_world, "
                                 f"items_per_offset, context, seed (got {sorted(bad)}) and it "
                                 "needs data.memory (the questions follow the bounded cache)")
        if self.vision_idle_frames is not None and self.vision_idle_frames < 0:
            raise ValueError(f"data: vision_idle_frames must be >= 0 or null, got {self.vision_idle_frames}")


@dataclass(frozen=True)
class DemoSettings:
    data: DataSettings = field(default_factory=DataSettings)
    vision: VisionSettings = field(default_factory=VisionSettings)
    llm: LLMSettings = field(default_factory=LLMSettings)
    threads: int | None = None

    @classmethod
    def from_dict(cls, d: dict) -> "DemoSettings":
        d = dict(d or {})
        unknown = set(d) - {"data", "vision", "llm", "threads"}
        if unknown:
            raise ValueError(f"unknown demo config section(s) {sorted(unknown)}; allowed: data, vision, llm, threads")
        parts = {}
        for name, klass in (("data", DataSettings), ("vision", VisionSettings), ("llm", LLMSettings)):
            sec = d.get(name) or {}
            allowed = {f.name for f in dataclasses.fields(klass)}
            bad = set(sec) - allowed
            if bad:
                raise ValueError(f"{name}: unknown key(s) {sorted(bad)}; allowed: {sorted(allowed)}")
            parts[name] = klass(**sec)
        return cls(threads=d.get("threads"), **parts)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "DemoSettings":
        import yaml  # noqa: PLC0415
        try:
            return cls.from_dict(yaml.safe_load(Path(path).read_text()))
        except FileNotFoundError:
            raise ValueError(f"demo config not found: {path}") from None
        except yaml.YAMLError as e:
            raise ValueError(f"{path} is not valid YAML: {' '.join(str(e).split())[:200]}") from None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _frames_and_targets(worlds, fps: float, vs: VisionSettings, idle_frames: int | None = None, seed: int = 0):
    """Frames [N, 3, S, S] of the worlds (WorldFrames, or configs rendered one at a time) and their vision
    targets, dense patch labels included. idle_frames: keep only the busy frames of each world (hand event,
    narration onset, object held or touched) plus that many random idle ones (RAM: many worlds, few frames)."""
    rng = np.random.default_rng(seed)
    frames, targets = [], {}
    for w in worlds:
        if not isinstance(w, WorldFrames):
            w = render_world(w, fps, vs.image_size)
        t = vision_targets(w.world, fps)
        t["patch"] = patch_targets(w.world, fps, vs.image_size, vs.patch)
        if vs.shape_weight:
            t["patch_shape"] = patch_shape_targets(w.world, fps, vs.image_size, vs.patch)
        keep = np.arange(len(t["event"]))
        if idle_frames is not None:
            busy = (t["event"] > 0) | (t["onset"] > 0) | (t["held"] > 0) | (t["contact"] > 0)
            idle = np.nonzero(~busy)[0]
            keep = np.sort(np.concatenate([np.nonzero(busy)[0],
                                           rng.choice(idle, min(len(idle), idle_frames), replace=False)]))
        frames.append(w.frames[torch.as_tensor(keep)])
        for k, v in t.items():
            targets.setdefault(k, []).append(v[keep])
    return _concat_releasing(frames), {k: np.concatenate(v) for k, v in targets.items()}


def _vision_set(ds: DataSettings, vs: VisionSettings, r: int, log):
    """Loader of vision training set r: worlds seed0 + r·vision_worlds … (rendered when called)."""
    def load():
        t0 = time.time()
        cfgs = [make_config(ds.seed0 + r * ds.vision_worlds + i, ds.duration, ds.fps) for i in range(ds.vision_worlds)]
        out = _frames_and_targets(cfgs, ds.fps, vs, ds.vision_idle_frames, vs.seed + r)
        if log:
            log(f"  rendered vision set {r + 1}/{ds.vision_sets}: {out[0].shape[0]} frames of {len(cfgs)} worlds in "
                f"{time.time() - t0:.0f} s")
        return out
    return load


def _concat_releasing(parts: list[torch.Tensor]) -> torch.Tensor:
    """torch.cat of the parts that frees each part once copied: peak RAM ≈ the result, not twice it (many GB of
    frames: the untouched pages of torch.empty are only allocated as they are written, and each freed part is
    handed back to the OS at once, see vision_pretrain.release_freed_memory)."""
    out = torch.empty((sum(p.shape[0] for p in parts), *parts[0].shape[1:]), dtype=parts[0].dtype)
    i = 0
    while parts:
        p = parts.pop(0)
        out[i:i + p.shape[0]] = p
        i += p.shape[0]
        del p
        release_freed_memory(collect=False)
    return out


def _encode_worlds(cfgs, tower, fps: float, events: dict | None = None) -> tuple[dict, list]:
    """Render each world, keep its engine tokens ({video uid: [T, 10, Dv]}) and its narration stream dialogue
    (and, given `events`, its ground-truth events by uid); one world at a time: frames are dropped once encoded."""
    features, dialogues = {}, []
    for c in cfgs:
        w = render_world(c, fps)
        features[truth.video_uid(c)] = encode_frames(tower, w.frames)
        dialogues.append(truth.stream_dialogue(w.world, fps))
        if events is not None:
            events[truth.video_uid(c)] = truth.ground_truth(w.world)["events"]
    return features, dialogues


def train_demo(settings: DemoSettings, out: str | Path | None, log=print, command: str = "",
               vision_budget_s: float | None = None, llm_budget_s: float | None = None,
               vision_from: str | Path | None = None):
    """Train and (when `out` is given) export. Returns (llm, tower, info).

    vision_from: a SigLIP folder (e.g. models/demo/vision) to reuse frozen instead of pre-training one
    (the reduced CI schedule trains only the LLM, from scratch)."""
    from vstream_ros.engine.template import load_tokenizer  # noqa: PLC0415
    if settings.threads:
        torch.set_num_threads(int(settings.threads))
    t_start = time.time()
    ds = settings.data
    cfgs = [make_config(ds.seed0 + i, ds.duration, ds.fps) for i in range(ds.worlds)]
    if vision_from is not None:
        from transformers import SiglipVisionModel  # noqa: PLC0415
        tower = SiglipVisionModel.from_pretrained(str(vision_from), dtype=torch.float32).eval().requires_grad_(False)
        vacc = {"reused": str(vision_from)}
        prev = Path(vision_from).parent / "train_info.json"     # the accuracy measured when it was pre-trained
        if prev.is_file():
            import json  # noqa: PLC0415
            vacc.update(json.loads(prev.read_text()).get("vision_train_accuracy") or {})
    else:
        valid = None
        if ds.valid_worlds:
            valid = _frames_and_targets([make_config(VALID_SEED0 + i, ds.duration, ds.fps)
                                         for i in range(ds.valid_worlds)], ds.fps, settings.vision)
        if log:
            log(f"pre-training the vision tower on {ds.vision_sets} × {ds.vision_worlds} worlds "
                f"(seeds {ds.seed0}…{ds.seed0 + ds.vision_sets * ds.vision_worlds - 1})")
        tower, vacc = pretrain_vision_sets([_vision_set(ds, settings.vision, r, log) for r in range(ds.vision_sets)],
                                           settings.vision, log=log, time_budget_s=vision_budget_s, heldout=valid)
        del valid
    tower.half().float()          # the features the LLM learns from = what the fp16-saved tower gives
    t0 = time.time()
    events: dict = {}
    features, dialogues = _encode_worlds(cfgs, tower, ds.fps, events)
    if log:
        log(f"rendered {len(cfgs)} training worlds and extracted their vision tokens in {time.time() - t0:.0f} s "
            f"({sum(f.shape[0] for f in features.values())} model frames)")
    tok = load_tokenizer()
    aligned = ds.memory_settings()
    samples = make_samples(dialogues, features, tok, aligned)
    if ds.qa is not None:
        from .qa import qa_samples  # noqa: PLC0415
        qa = qa_samples(dialogues, features, events, tok, aligned, **ds.qa)
        if log:
            log(f"question–answer samples over recalled memory: {len(qa)} (with {len(samples)} narration samples)")
        samples = samples + [{k: x[k] for k in ("input_ids", "labels", "frames")} for x in qa]
    llm = build_llm(settings.llm, int(tower.config.hidden_size))
    if log:
        n_par = sum(p.numel() for p in llm.parameters())
        start = f"from {settings.llm.init_from}" if settings.llm.init_from else "from scratch"
        what = "memory-aligned samples" if aligned else "dialogues"
        log(f"training the LLM {start} ({n_par / 1e6:.2f} M parameters, tied embeddings) on {len(samples)} {what}")
    clips = narration_clips(dialogues, features, tok, settings.llm.clip_frames) if settings.llm.clip_steps else None
    if log and clips:
        log(f"clip stage first: {settings.llm.clip_steps} steps of {settings.llm.clip_batch} of the {len(clips)} "
            f"narrations, each with its {settings.llm.clip_frames} frames before")
    stats = train_llm(llm, samples, settings.llm, log=log, time_budget_s=llm_budget_s,
                      token_weights=object_token_weights(tok, settings.llm.object_word_weight), clips=clips)
    if ds.valid_worlds:           # does the LLM read the object off the frames? (teacher-forced, held-out)
        vevents: dict = {}
        vfeat, vdial = _encode_worlds([make_config(VALID_SEED0 + i, ds.duration, ds.fps)
                                       for i in range(ds.valid_worlds)], tower, ds.fps, vevents)
        # laid out as the training samples were (memory-aligned: the runtime cache's layout, not 10-minute
        # contiguous dialogues the model never saw)
        stats["valid_object_words"] = object_word_accuracy(llm, make_samples(vdial, vfeat, tok, aligned),
                                                           object_word_ids(tok))
        if log:
            log(f"  llm on {ds.valid_worlds} validation worlds, object words (teacher-forced): "
                f"{stats['valid_object_words']}")
        if ds.qa is not None:     # answers to questions about those worlds (teacher-forced: clocks, words, exact)
            from .qa import answer_accuracy, qa_samples  # noqa: PLC0415
            vqa = qa_samples(vdial, vfeat, vevents, tok, aligned, per_sample=1, offsets_per_world=2,
                             items_per_offset=40, context=ds.qa.get("context", "cache"), seed=5)
            stats["valid_qa"] = answer_accuracy(llm, vqa, tok)
            if log:
                log(f"  llm on {ds.valid_worlds} validation worlds, answers (teacher-forced): {stats['valid_qa']}")
    info = {"settings": settings.to_dict(), "vision_train_accuracy": vacc, "llm": stats,
            "train_seeds": [ds.seed0, ds.seed0 + ds.worlds - 1], "seconds": round(time.time() - t_start, 1),
            "torch": torch.__version__, "command": command}
    if out is not None:
        from vstream_ros.engine.memory.context import context_of_samples  # noqa: PLC0415
        from .export import export_model, model_size_bytes  # noqa: PLC0415
        context = context_of_samples([(int(x["frames"].shape[0]), int(x["input_ids"].numel())) for x in samples],
                                     ds.fps, aligned[0] if aligned else None,
                                     written_by="vstream_lab.demo_model.train_demo " + (command or ""),
                                     recall=ds.qa is not None,
                                     recall_context=(ds.qa or {}).get("context", "cache"))
        root = export_model(out, llm, tower, info, context)
        if log:
            log(f"saved the demo model to {root} ({model_size_bytes(root) / 1e6:.1f} MB) "
                f"after {time.time() - t_start:.0f} s")
        llm.float()
    return llm, tower, info


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m vstream_lab.demo_model.train_demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="config/train/demo.yaml", help="demo training YAML")
    p.add_argument("--out", default="models/demo", help="output folder (replaced atomically)")
    p.add_argument("--vision-from", default=None, metavar="DIR",
                   help="reuse this SigLIP folder (e.g. models/demo/vision) frozen instead of pre-training the tower: "
                        "saves ~27 min and ~12 GB RAM; pre-training is deterministic, so with the same config the "
                        "result is the same")
    p.add_argument("--llm-from", default=None, metavar="DIR",
                   help="continue training this saved demo LLM folder (e.g. models/demo-60s/llm) instead of a random "
                        "init: overrides llm.init_from (config/train/demo_long.yaml, the long-stream stage)")
    args = p.parse_args(argv)
    try:
        settings = DemoSettings.from_yaml(args.config)
        if args.llm_from:
            settings = dataclasses.replace(settings, llm=dataclasses.replace(settings.llm, init_from=args.llm_from))
        if args.vision_from and not (Path(args.vision_from) / "config.json").is_file():
            raise ValueError(f"--vision-from {args.vision_from}: no SigLIP config.json there")
        command = " ".join(["python -m vstream_lab.demo_model.train_demo", *(argv or sys.argv[1:])])
        train_demo(settings, args.out, vision_from=args.vision_from, command=command)
    except (ValueError, OSError) as e:
        print(f"train_demo: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
