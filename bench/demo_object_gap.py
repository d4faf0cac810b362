"""Where does the demo model lose the object's name? Three readings of the same held-out worlds, per reference
narration (the object = the first colour + shape the narration names):

- teacher-forced: the reference dialogue (frames, earlier reference narrations, this narration's words before
  the object word); the model's most likely colour among colours / shape among shapes at the first colour /
  shape word of the narration (`llm_train.object_word_picks`, per narration instead of per dialogue);
- generated at the truth: the reference dialogue up to this narration's answer frame, then the model's own
  greedy sentence (its words only in this turn, the exact answer frame);
- free-running: the streaming engine on its own (its own timing and earlier words), matched pairs at ±1 s
  (what bench/demo_quality.py scores).

If teacher-forced ≈ generated ≈ free-running, the names are lost in reading the frames (tower or LLM), not in
free running.

    python bench/demo_object_gap.py --model models/demo --worlds 8
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def world_tokens(model, frames):
    """Engine vision tokens [T, 10, Dv] of (t, rgb) model-grid frames (StreamRunner.encode of each)."""
    import torch  # noqa: PLC0415
    from vstream_ros.engine.reference import ReferenceBackend  # noqa: PLC0415
    from vstream_ros.engine.runner import StreamRunner  # noqa: PLC0415
    runner = StreamRunner(model, ReferenceBackend(model))
    with torch.inference_mode():
        return torch.stack([runner.encode(rgb) for _, rgb in frames])


def greedy_reply(model, ids, tokens, max_new: int = 32) -> str:
    """The model's greedy continuation of `ids` (ending with `Assistant`) with the frames `tokens`."""
    from vstream_ros.engine.reference import ReferenceBackend  # noqa: PLC0415
    from vstream_ros.engine.template import STOP_IDS, TEXT_VOCAB_SIZE  # noqa: PLC0415
    backend = ReferenceBackend(model)
    logits = backend.prefill(ids, tokens, [-1])[0]
    out = []
    for _ in range(max_new):
        t = int(logits[:TEXT_VOCAB_SIZE].argmax())
        if t in STOP_IDS:
            break
        out.append(t)
        logits = backend.decode(t)
    return model.tokenizer.decode(out).lstrip(":").strip()


def world_readings(model, index: int, hits: dict, examples: list) -> None:
    import torch  # noqa: PLC0415
    from vstream_lab.demo_model.heldout import heldout_config, references, world_frames  # noqa: PLC0415
    from vstream_ros.demo.evaluate import grid_frames, named_parts, run_model, score  # noqa: PLC0415
    from vstream_lab.demo_model.llm_train import object_word_ids, object_word_picks, proactive_only  # noqa: PLC0415
    from vstream_ros.engine.config import StreamConfig  # noqa: PLC0415
    from vstream_ros.engine.template import V_TOKEN_ID  # noqa: PLC0415
    from vstream_lab.synth import truth  # noqa: PLC0415
    from vstream_lab.synth.world import World  # noqa: PLC0415
    from vstream_ros.train.dialogue import encode_dialogue  # noqa: PLC0415

    tok = model.tokenizer
    world = World(heldout_config(index, 60.0, 10.0))
    conv = proactive_only(truth.stream_dialogue(world, 2.0).conversation)
    enc = encode_dialogue(conv, tok)
    ids, labels = torch.tensor(enc.input_ids), torch.tensor(enc.labels)
    tokens = world_tokens(model, grid_frames(world_frames(world), 2.0))[:enc.num_frames]
    replies = [m["content"] for m in conv if m["role"] == "assistant"]
    starts = (ids == tok.encode("Assistant", add_special_tokens=False)[0]).nonzero()[:, 0].tolist()
    if len(starts) != len(replies):
        raise RuntimeError(f"world {index}: {len(starts)} `Assistant` tokens for {len(replies)} narrations")
    word_ids = object_word_ids(tok)
    for s, e, ref in zip(starts, starts[1:] + [len(ids)], replies):
        this_turn = torch.full_like(labels, -100)                   # teacher-forced: this narration's labels only
        this_turn[s - 1:e] = labels[s - 1:e]
        sample = {"input_ids": ids, "labels": this_turn, "frames": tokens}
        for kind, target, pick in object_word_picks(model.llm, [sample], word_ids, first_only=True):
            hits[f"teacher-forced {kind}"].append(int(pick == target))
        n_frames = int((ids[:s + 1] == V_TOKEN_ID).sum()) // 10
        text = greedy_reply(model, ids[:s + 1].tolist(), tokens[:n_frames])
        _add(hits, "generated at the truth", named_parts(text), named_parts(ref))
        examples.append((world.cfg.seed, "at truth", ref, text))
    run = run_model(model, world_frames(world), StreamConfig(max_new_tokens=32))
    for p in score(references(world), run.preds, world.cfg.duration).pairs:
        _add(hits, "free-running", named_parts(p["pred"]), named_parts(p["ref"]))
        examples.append((world.cfg.seed, f"free Δt {p['dt']:+.2f}", p["ref"], p["pred"]))


def _add(hits: dict, name: str, pred: tuple, ref: tuple) -> None:
    hits[f"{name} colour"].append(int(pred[0] == ref[0]))
    hits[f"{name} shape"].append(int(pred[1] == ref[1]))
    hits[f"{name} object"].append(int(pred == ref))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(ROOT / "models" / "demo"), help="demo model folder")
    p.add_argument("--worlds", type=int, default=8, help="held-out worlds 900000… (default 8)")
    p.add_argument("--examples", action="store_true", help="print every reference beside the model's sentence")
    args = p.parse_args(argv)
    import torch  # noqa: PLC0415
    from vstream_ros.engine.checkpoint import load_live_model  # noqa: PLC0415
    from vstream_ros.engine.config import ModelSpec  # noqa: PLC0415
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    m = Path(args.model)
    model = load_live_model(ModelSpec(checkpoint=str(m / "checkpoint"), llm=str(m / "llm"), vision=str(m / "vision"),
                                      device="cpu", dtype="float32"))
    hits, examples = defaultdict(list), []
    for i in range(args.worlds):
        world_readings(model, i, hits, examples)
        print(f"world {900000 + i} done", file=sys.stderr, flush=True)
    if args.examples:
        for ex in examples:
            print(" | ".join(str(x) for x in ex))
    print(f"{args.model}, {args.worlds} held-out worlds (first object of each narration)")
    for k, v in hits.items():
        print(f"  {k:32s} {sum(v) / len(v):.3f}  (n={len(v)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
