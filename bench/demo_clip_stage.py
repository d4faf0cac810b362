"""Clip-stage experiment for the demo LLM: train only the clip stage (narration + the frames just before it) and
report, teacher-forced on held-out clips, whether the FIRST object of each narration (the one picked, placed or
moved) gets the right colour and shape word, with the shape confusion. A ~5-10 min signal for changes to the
clip stage, before a ~25 min full run (docs/demo.md, bench/RESULTS.md "clip stage").

    python bench/demo_clip_stage.py --steps 300                 # the clip stage alone, as in the config
    python bench/demo_clip_stage.py --steps 600
    python bench/demo_clip_stage.py --steps 300 --balanced      # shape words weighted by inverse frequency

Features come from a frozen tower (default models/demo/vision), for the config's training worlds and
--valid-worlds validation worlds (seeds 800000+), cached in --cache (delete it after changing the tower).

Imports: torch, transformers, vstream_ros.demo.*. Never ROS.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _features(settings, vision: Path, valid_worlds: int, cache: Path):
    import torch  # noqa: PLC0415
    from transformers import SiglipVisionModel  # noqa: PLC0415
    from vstream_lab.demo_model.data import VALID_SEED0, make_config  # noqa: PLC0415
    from vstream_lab.demo_model.train_demo import _encode_worlds  # noqa: PLC0415
    if cache.is_file():
        return torch.load(cache, weights_only=False)
    ds = settings.data
    tower = SiglipVisionModel.from_pretrained(str(vision), dtype=torch.float32).eval().requires_grad_(False)
    tower.half().float()                     # what the fp16-saved tower gives, as in train_demo
    train = _encode_worlds([make_config(ds.seed0 + i, ds.duration, ds.fps) for i in range(ds.worlds)], tower, ds.fps)
    valid = _encode_worlds([make_config(VALID_SEED0 + i, ds.duration, ds.fps) for i in range(valid_worlds)],
                           tower, ds.fps)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    torch.save((train, valid), tmp)
    tmp.replace(cache)
    return train, valid


def first_mention(model, clips, word_ids: dict, decode) -> tuple[dict, dict, Counter]:
    """Teacher-forced accuracy of the first colour / shape word of each clip (llm_train.object_word_picks):
    ({kind: acc}, {kind: n}, shape confusion Counter[(true, picked)])."""
    from vstream_lab.demo_model.llm_train import object_word_picks  # noqa: PLC0415
    hit, n, conf = Counter(), Counter(), Counter()
    for kind, target, pick in object_word_picks(model, clips, word_ids, first_only=True):
        hit[kind] += int(pick == target)
        n[kind] += 1
        if kind == "shape":
            conf[(decode(target), decode(pick))] += 1
    return {k: round(hit[k] / n[k], 3) for k in n}, dict(n), conf


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(ROOT / "config" / "train" / "demo.yaml"))
    p.add_argument("--vision", default=str(ROOT / "models" / "demo" / "vision"), help="frozen SigLIP tower")
    p.add_argument("--steps", type=int, default=None, help="clip steps (default: the config's llm.clip_steps)")
    p.add_argument("--balanced", action="store_true", help="shape words weighted by inverse first-mention frequency")
    p.add_argument("--valid-worlds", type=int, default=8)
    p.add_argument("--cache", default="/tmp/vstream-demo-clip-features.pt")
    args = p.parse_args(argv)

    import torch  # noqa: PLC0415
    from vstream_ros.demo import llm_train as L  # noqa: PLC0415
    from vstream_lab.demo_model.train_demo import DemoSettings  # noqa: PLC0415
    from vstream_ros.engine.template import load_tokenizer  # noqa: PLC0415

    s = DemoSettings.from_yaml(args.config)
    torch.set_num_threads(int(s.threads or 2))
    tok = load_tokenizer()
    (tr_feat, tr_dial), (va_feat, va_dial) = _features(s, Path(args.vision), args.valid_worlds, Path(args.cache))
    clips = L.narration_clips(tr_dial, tr_feat, tok, s.llm.clip_frames)
    vclips = L.narration_clips(va_dial, va_feat, tok, s.llm.clip_frames)
    ids = L.object_word_ids(tok)
    decode = (lambda i: tok.decode([i]).strip())
    weights = L.object_token_weights(tok, s.llm.object_word_weight)
    if args.balanced:
        freq = Counter()
        for c in clips:
            at = torch.isin(c["labels"], torch.tensor(ids["shape"])).nonzero()[:, 0]
            if at.numel():
                freq[int(c["labels"][at[0]])] += 1
        total = sum(freq.values())
        for k, v in freq.items():
            weights[k] = s.llm.object_word_weight * total / (len(freq) * v)
        print("shape weights", {decode(k): round(weights[k], 2) for k in freq})
    steps = s.llm.clip_steps if args.steps is None else args.steps
    model = L.build_llm(s.llm, int(next(iter(tr_feat.values())).shape[-1]))
    model.config.use_cache = False
    t0 = time.time()
    L._stage(model, clips, dataclasses.replace(s.llm, steps=steps, batch=s.llm.clip_batch), None, None, weights,
             "clip", "constant_with_warmup")
    model.eval()
    acc, n, conf = first_mention(model, vclips, ids, decode)
    print(f"clip stage {steps} steps{' (balanced shapes)' if args.balanced else ''}, {time.time() - t0:.0f} s: "
          f"first-mention accuracy on {len(vclips)} validation clips {acc} (n {n})")
    print("shape confusion (true → said):", ", ".join(f"{a}→{b} {c}" for (a, b), c in conf.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
