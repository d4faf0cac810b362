"""Quality loop of the demo model: (train,) replay held-out synthetic worlds through the streaming engine,
score against the ground truth and compare with the model-free baselines.

    # evaluate the shipped model on 5 held-out worlds and print the table (paste it into bench/RESULTS.md)
    python bench/demo_quality.py --model models/demo --worlds 5
    # train with a config first (short schedule: --set-steps), save the model, then evaluate
    python bench/demo_quality.py --train config/train/demo.yaml --save /tmp/demo_model --worlds 5
    # the quality cost of weight-only quantization (engine/quantize.py): one row per setting, and the agreement
    # of each quantized run with the first setting's (decisions, reply tokens)
    python bench/demo_quality.py --worlds 20 --backend runtime --quantize none int8 int4

Held-out worlds are seeds 900000+i (never trained on), 60 s at 10 fps; the engine samples 2 fps. Metrics
(replay.metrics): timing P/R/F1 with one-to-one matching at ±1 s, mean |Δt| of matched pairs, ROUGE-L and
token F1 of matched pairs; micro-averaged over worlds. Baselines (synth.baselines) see the same 2-fps
frames: always silent, a fixed-interval narrator (every 2 s and every 5 s) and a change detector.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def evaluate(model_dir: Path, worlds: int, duration: float, threshold: float | None, log=print,
             quantize: tuple[str, ...] = ("none",), backend: str = "reference",
             model_memory: bool = False) -> tuple[list, list, list]:
    """(table rows, per-world F1s, agreement lines of each later --quantize setting with the first).
    model_memory: run with the memory the product gives this model (its trained-context record), not the
    backend's default policy."""
    import torch  # noqa: F401,PLC0415
    from vstream_ros.engine.checkpoint import load_live_model  # noqa: PLC0415
    from vstream_ros.engine.config import ModelSpec, StreamConfig  # noqa: PLC0415
    from vstream_lab.demo_model.heldout import heldout_config, references, world_frames  # noqa: PLC0415
    from vstream_ros.demo.evaluate import Aggregate, BASELINE_NAMES, run_baselines, run_model, score  # noqa: PLC0415
    from vstream_lab.synth.world import World  # noqa: PLC0415

    from vstream_ros.engine.agreement import agreement  # noqa: PLC0415
    models = {q: load_live_model(ModelSpec(checkpoint=str(model_dir / "checkpoint"), llm=str(model_dir / "llm"),
                                           vision=str(model_dir / "vision"), device="cpu", dtype="float32",
                                           quantize=q)) for q in quantize}
    names = {q: "demo model" if quantize == ("none",) else f"demo model ({q})" for q in quantize}
    agree: dict = {}
    cfg = StreamConfig(max_new_tokens=32) if threshold is None else StreamConfig(threshold=threshold,
                                                                                   max_new_tokens=32)
    aggs = {n: Aggregate(n) for n in (*names.values(), *BASELINE_NAMES)}
    memory = None
    if model_memory:
        from vstream_ros.engine.options import EngineConfig  # noqa: PLC0415
        choice = EngineConfig(ModelSpec(checkpoint=str(model_dir / "checkpoint"), llm=str(model_dir / "llm"),
                                        vision=str(model_dir / "vision"), device="cpu", dtype="float32"), cfg)
        plan = choice.memory_plan(choice.trained_context())
        memory = plan.memory
        log(f"memory: {plan.note}")
    per_world = []
    for i in range(worlds):
        world = World(heldout_config(i, duration, 10.0))
        refs, frames = references(world), list(world_frames(world))
        t0 = time.perf_counter()
        res, events = {}, {}
        for q, model in models.items():
            events[q] = []
            run = run_model(model, frames, cfg, on_event=events[q].append, backend=backend, memory=memory)
            res[names[q]] = score(refs, run.preds, world.cfg.duration)
        for name, preds in run_baselines(frames, cfg.fps).items():
            res[name] = score(refs, preds, world.cfg.duration)
        for name, r in res.items():
            aggs[name].add(r)
        for q in quantize[1:]:
            a = agreement(events[quantize[0]], events[q])
            agree[q] = agree[q] + a if q in agree else a
        first = names[quantize[0]]
        per_world.append((world.cfg.seed, {n: r.f1 for n, r in res.items()}, res[first].rouge_l))
        log(f"world {world.cfg.seed}: " + ", ".join(f"{names[q]} F1 {res[names[q]].f1:.3f} "
                                                   f"({res[names[q]].n_pred} said)" for q in quantize)
            + f" / {len(refs)} ref, best baseline F1 "
            f"{max(r.f1 for n, r in res.items() if n in BASELINE_NAMES):.3f}  [{time.perf_counter() - t0:.0f} s]")
    lines = [f"agreement of {q} with {quantize[0]} over {worlds} worlds: {a.line()}" for q, a in agree.items()]
    for line in lines:
        log(line)
    return [a.row() for a in aggs.values()], per_world, lines


def write_results(path: Path, rows, per_world, command: str, train_note: str, backend: str = "reference",
                  notes: tuple[str, ...] = ()) -> None:
    from vstream_ros.demo.evaluate import format_table  # noqa: PLC0415
    import torch  # noqa: PLC0415
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["## Demo model quality on held-out synthetic worlds", "",
             f"- Date: {now}; device: CPU ({platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads; shared machine)",
             f"- Command: `{command}`",
             f"- {train_note}",
             f"- Held-out worlds: {len(per_world)} × 60 s at 10 fps (seeds {per_world[0][0]}…{per_world[-1][0]}), "
             f"engine at 2 fps, {backend} backend, θ as shown in the command (default 0.725).",
             "- Timing: one-to-one matching at ±1 s (replay.metrics), micro-averaged over worlds; |Δt|, ROUGE-L and "
             "token F1 over matched pairs only (a narrator that says little can still have a high text score); "
             "object / colour / shape / action: share of matched pairs that name the reference's object (colour + shape) / its "
             "colour / its shape / say its action (demo.evaluate.named_object / named_parts / named_action).", "",
             *[f"- {n}" for n in notes], "",
             format_table(rows, markdown=True), "",
             "Per world timing F1:", "",
             "| seed | " + " | ".join(per_world[0][1]) + " |", "|---|" + "---|" * len(per_world[0][1])]
    for seed, f1s, _ in per_world:
        lines.append(f"| {seed} | " + " | ".join(f"{v:.3f}" for v in f1s.values()) + " |")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(ROOT / "models" / "demo"), help="trained demo model folder")
    p.add_argument("--train", default=None, metavar="CONFIG", help="train with this demo YAML first")
    p.add_argument("--set-steps", type=int, nargs=2, default=None, metavar=("VISION", "LLM"),
                   help="override the vision and LLM step counts of --train (a short schedule)")
    p.add_argument("--save", default=None, help="where --train saves the model (default: a temp folder)")
    p.add_argument("--worlds", type=int, default=5, help="held-out worlds to evaluate (default 5)")
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--threshold", type=float, default=None)
    p.add_argument("--backend", choices=("reference", "runtime"), default="reference",
                   help="LLM backend of the engine (default reference, as the earlier results)")
    p.add_argument("--model-memory", action="store_true",
                   help="the memory the product gives the model (its trained-context record; runtime backend)")
    p.add_argument("--quantize", nargs="+", choices=("none", "int8", "int4"), default=["none"],
                   help="one table row per setting (e.g. none int8 int4); later ones are compared with the first")
    p.add_argument("--results", default=str(ROOT / "bench" / "demo_results.md"), help="table output (paste into bench/RESULTS.md)")
    args = p.parse_args(argv)
    command = "python bench/demo_quality.py " + " ".join(argv if argv is not None else sys.argv[1:])
    model_dir = Path(args.model)
    train_note = f"Model: `{model_dir}` (see its train_info.json for the training command and settings)."
    if args.train:
        import dataclasses  # noqa: PLC0415
        import tempfile  # noqa: PLC0415
        from vstream_lab.demo_model.train_demo import DemoSettings, train_demo  # noqa: PLC0415
        s = DemoSettings.from_yaml(args.train)
        if args.set_steps:
            s = dataclasses.replace(s, vision=dataclasses.replace(s.vision, steps=args.set_steps[0]),
                                    llm=dataclasses.replace(s.llm, steps=args.set_steps[1]))
        model_dir = Path(args.save or tempfile.mkdtemp(prefix="vstream_demo_bench_"))
        t0 = time.perf_counter()
        train_demo(s, model_dir, command=command)
        train_note = f"Trained by this command from `{args.train}` in {time.perf_counter() - t0:.0f} s."
    rows, per_world, notes = evaluate(model_dir, args.worlds, args.duration, args.threshold,
                                      quantize=tuple(args.quantize), backend=args.backend,
                                      model_memory=args.model_memory)
    from vstream_ros.demo.evaluate import format_table  # noqa: PLC0415
    print(format_table(rows))
    write_results(Path(args.results), rows, per_world, command, train_note, args.backend, tuple(notes))
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
