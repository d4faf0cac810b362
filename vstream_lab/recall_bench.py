"""Recall benchmark: questions about a long stream's past at depths 1, 5, 15, 30 and 55 minutes, answered by the
model over each memory, scored against the world's exact truth.

    python -m vstream_lab.recall_bench --model models/demo --out bench/recall [--seeds 927000 927001] [--duration 3600]

Held-out worlds (seeds in the held-out range, never trained on) of `duration` seconds with six objects, four of which
stop being touched at set times (SynthConfig.rest), so that "Where did I put …?" and "When did I last pick up …?"
have answers 55, 30, 15 and 5 minutes deep at the end of the stream; the other two stay in use (1 minute deep).
In the last four minutes, at six moments, every question form is asked at every depth that exists
(demo_model/qa.py forms: pick_at, where, last_pick), once per memory policy:

    recall         engine/recall: the narration log chooses the moment; its lines and frames are spliced (default)
    recall-first-frame   … answered over the cache cut after its first frame (recall context first_frame)
    recall-text    … its lines only (a caption memory)           recall-frames  … its frames only
    keyframes      the frames the bounded keyframes cache holds  window         the last 65 frames (32.5 s)
    last4          the last 4 frames (the SimpleStream baseline)
    log-rule       no model: the answer read off the model's narration log by rule (a baseline to report)

All policies run in ONE pass over the stream: every answer is given on a fork of the cache and rolled back, so the
narration, and what each policy can see, are those of the same run. Per policy: accuracy per form × depth, how often
the recalled memory held the moment asked about (`landed`: a frame or line within 3 s of it), spliced
tokens, device KV bytes (the cache capacity, the same for all), host bytes (the recall store: frames + log) and
answer latency. Writes recall.json, recall.md and recall.png (atomic).

Imports: numpy, torch, vstream_ros engine, lab synth/demo_model. Never ROS; the product never imports this (lab).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vstream_ros.atomic import atomic_path
from vstream_ros.engine.events import QueryEvent, Response
from vstream_ros.engine.pipeline_queue import QueryTicket
from vstream_ros.engine.protocol import clock_text
from vstream_ros.engine.recall import RecallConfig
from vstream_ros.engine.recall.retrieve import best_line, parse_clock
from vstream_lab.demo_model.data import HELDOUT_SEED0
from vstream_lab.demo_model.qa import DIRECTION, grid_time, placement
from vstream_lab.synth.script import SynthConfig

DEPTHS = {1: (0.3, 2.5), 5: (3.5, 7.5), 15: (12.0, 18.5), 30: (27.0, 33.5), 55: (51.0, 59.0)}   # minutes: bins
SEEDS = (HELDOUT_SEED0 + 27000, HELDOUT_SEED0 + 27001)
POLICIES = {
    "recall": RecallConfig(method="log"),
    "recall-first-frame": RecallConfig(method="log", context="first_frame"),
    "recall-text": RecallConfig(method="log-text"),
    "recall-frames": RecallConfig(method="log-frames"),
    "keyframes": RecallConfig(method="cache"),
    "window": RecallConfig(method="recent", recent_frames=65),
    "last4": RecallConfig(method="recent", recent_frames=4),
}
FORMS = ("pick_at", "where", "last_pick")
ASK_WINDOW_S = 240.0
TIME_TOLERANCE_S = 2.0


def world_config(seed: int, duration: float) -> SynthConfig:
    """Six objects; objects 0–3 rest from (ask start − 54, − 29, − 14, − 4 min): 55, 30, 15, 5 minutes deep."""
    q0 = duration - ASK_WINDOW_S
    rest = tuple((i, q0 - m * 60.0) for i, m in enumerate((54, 29, 14, 4)) if q0 - m * 60.0 > 30.0)
    return SynthConfig(seed=int(seed), duration=float(duration), fps=2.0, n_objects=6, rest=rest, split="heldout")


def depth_bin(minutes: float) -> int | None:
    return next((d for d, (lo, hi) in DEPTHS.items() if lo <= minutes <= hi), None)


def questions(events: list[dict], duration: float, fps: float = 2.0, moments: int = 6) -> list[dict]:
    """The questions of one world: at `moments` times spread over the last ASK_WINDOW_S, each form at each depth
    that exists (the pick nearest the depth for pick_at; the last place / pick of each object otherwise)."""
    start, end = duration - ASK_WINDOW_S, duration - 5.0
    out = []
    for k in range(moments):
        now = grid_time(start + (end - start) * k / max(1, moments - 1), fps)
        past = [e for e in events if grid_time(e["time"], fps) <= now - 3.0]
        picks = [e for e in past if e["kind"] == "pick"]
        for d, (lo, hi) in DEPTHS.items():
            near = [e for e in picks if lo <= (now - e["time"]) / 60 <= hi]
            if near:
                e = min(near, key=lambda e: abs((now - e["time"]) / 60 - d))
                out.append({"form": "pick_at", "depth": d, "now": now, "text": f"What did I pick up at {clock_text(e['time'])}?",
                            "obj": e["obj"], "truth_t": e["time"], "truth": e["obj"]})
        last = {}
        for e in past:
            last[(e["kind"], e["obj"])] = e
        for (kind, obj), e in last.items():
            d = depth_bin((now - e["time"]) / 60)
            if d is None:
                continue
            if kind == "place":
                out.append({"form": "where", "depth": d, "now": now, "text": f"Where did I put the {obj}?",
                            "obj": obj, "truth_t": e["time"], "truth": placement(e)})
            else:
                out.append({"form": "last_pick", "depth": d, "now": now, "text": f"When did I last pick up the {obj}?",
                            "obj": obj, "truth_t": e["time"], "truth": clock_text(e["time"])})
    return out


def correct(q: dict, answer: str) -> bool:
    """pick_at: names the object (colour and shape); where: says the placement; last_pick: a time within
    TIME_TOLERANCE_S of the truth (the answer's first `M:SS`)."""
    a = " ".join(answer.lower().split())
    if q["form"] == "pick_at":
        return q["truth"] in a
    if q["form"] == "where":
        return q["truth"] in a
    t = parse_clock(a)
    return t is not None and abs(t - q["truth_t"]) <= TIME_TOLERANCE_S + 1.0   # + the clock's truncated second


def rule_answer(q: dict, log: list) -> str:
    """The log-rule baseline: read the answer off the narration log (no model)."""
    if q["form"] == "pick_at":
        t = parse_clock(q["text"])
        near = [ln for ln in log if abs(ln.t - t) <= 3.0 and ln.kind == "narration"
                and any(v in ln.text.lower() for v in (" picks ", " takes "))]
        if not near:
            return ""
        ln = min(near, key=lambda ln: abs(ln.t - t))
        words = ln.text.lower().rstrip(".").split(" the ", 1)
        return "You picked up the " + (words[1].split(" from ")[0].split(" out ")[0] if len(words) > 1 else "")
    ln = best_line(q["text"], log, q["now"])
    if ln is None:
        return ""
    if q["form"] == "last_pick":
        return f"You last picked up it at {clock_text(ln.t)}."
    txt = ln.text.lower().rstrip(".")
    for phrase in DIRECTION.values():
        if txt.endswith(phrase):
            return f"You put it {phrase}."
    for rel in (" on the ", " in the "):
        if rel in txt:
            return "You put it" + rel + txt.split(rel, 1)[1] + "."
    return ""


def world_tokens(cfg: SynthConfig, vision, cache_dir: Path | None, log=print) -> tuple[torch.Tensor, list[dict]]:
    """The engine's vision tokens of every model frame of the world [T, 10, D] (rendered and encoded in chunks of
    600 frames, the engine's frame → tokens path; cached in `cache_dir`) and its ground-truth events."""
    from vstream_ros.engine.vision import encode_frames  # noqa: PLC0415
    from vstream_lab.synth import truth  # noqa: PLC0415
    from vstream_lab.synth.render import Renderer  # noqa: PLC0415
    from vstream_lab.synth.world import World  # noqa: PLC0415
    world = World(cfg)
    events = truth.ground_truth(world)["events"]
    path = None if cache_dir is None else Path(cache_dir) / f"{truth.video_uid(cfg)}.pt"
    if path is not None and path.is_file():
        return torch.load(path), events
    t0, parts, r = time.time(), [], Renderer(world)
    n = world.cfg.num_frames
    for a in range(0, n, 600):
        parts.append(encode_frames(vision, [rgb for _, rgb in r.frames(a, min(n, a + 600))]))
    tokens = torch.cat(parts)
    if log:
        log(f"seed {cfg.seed}: rendered and encoded {tokens.shape[0]} frames in {time.time() - t0:.0f} s")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".pt") as tmp:
            torch.save(tokens, tmp)
    return tokens, events


def landed(q: dict, evidence) -> bool:
    """The recalled memory holds the moment asked about: a frame or line within TIME_TOLERANCE_S + 1 s of it."""
    return any(abs(float(e) - q["truth_t"]) <= TIME_TOLERANCE_S + 1.0 for e in evidence)


def run_world(model, memory, cfg: SynthConfig, cache_dir: Path | None, log=print, policies=None) -> dict:
    """One pass over the world with every question of every policy (`policies`: names of POLICIES, None = all);
    returns its rows and the store's bytes."""
    policies = {n: POLICIES[n] for n in (policies or POLICIES)}
    from vstream_ros.engine.config import StreamConfig  # noqa: PLC0415
    from vstream_ros.engine.factory import build_backends  # noqa: PLC0415
    from vstream_ros.engine.session import StreamSession  # noqa: PLC0415
    tokens, events = world_tokens(cfg, model.vision, cache_dir, log)
    qs = questions(events, cfg.duration, cfg.fps)
    backend = build_backends(model, 1, memory=memory)[0]
    started, latency = [0.0], []

    def on_event(e):
        if isinstance(e, QueryEvent):
            started[0] = time.perf_counter()
        elif isinstance(e, Response) and e.trigger == "query":
            latency.append(time.perf_counter() - started[0])
    session = StreamSession(backend, model.protocol, StreamConfig(fps=cfg.fps, recall=RecallConfig()),
                            on_event=on_event)
    asked = []
    for q in qs:
        for name, rc in policies.items():
            ticket = QueryTicket(q["text"], q["now"], recall=rc)
            session.stream.add_query(ticket)
            asked.append((q, name, ticket))
    t0 = time.time()
    for k in range(tokens.shape[0]):
        session.push_frame(tokens[k], k / cfg.fps)
    session.flush()
    store = session.stream.recall
    rows = []
    for (q, name, ticket), lat in zip(asked, latency):
        rows.append({**q, "policy": name, "answer": ticket.answer, "ok": correct(q, ticket.answer),
                     "evidence": len(ticket.evidence), "landed": landed(q, ticket.evidence), "latency_s": lat})
    for q in qs:
        ans = rule_answer(q, [ln for ln in store.log if ln.t <= q["now"]])
        rows.append({**q, "policy": "log-rule", "answer": ans, "ok": correct(q, ans), "evidence": 0,
                     "latency_s": 0.0})
    if log:
        log(f"seed {cfg.seed}: {tokens.shape[0]} frames, {len(qs)} questions × {len(policies)} policies in "
            f"{time.time() - t0:.0f} s")
    kv = backend.cache.bytes if hasattr(backend, "cache") else None
    return {"seed": cfg.seed, "duration": cfg.duration, "rows": rows, "host_frame_bytes": store.bytes,
            "host_log_bytes": sum(len(ln.text) + 16 for ln in store.log), "bytes_per_hour": store.bytes_per_hour(),
            "device_kv_bytes": kv, "narrations": sum(1 for ln in store.log if ln.kind == "narration"),
            "log": [[ln.t, ln.kind, ln.text] for ln in store.log]}


def summarise(worlds: list[dict]) -> dict:
    """Accuracy per policy × form × depth (and per policy × depth over forms), latency and bytes per policy."""
    rows = [r for w in worlds for r in w["rows"]]
    out = {}
    for pol in [*POLICIES, "log-rule"]:
        pr = [r for r in rows if r["policy"] == pol]
        if not pr:
            continue
        acc = {}
        for form in FORMS:
            for d in DEPTHS:
                sel = [r["ok"] for r in pr if r["form"] == form and r["depth"] == d]
                if sel:
                    acc[f"{form}@{d}"] = {"acc": float(np.mean(sel)), "n": len(sel)}
        lat = [r["latency_s"] for r in pr]
        hits = [r["landed"] for r in pr if "landed" in r]             # log-rule recalls nothing
        host = 0 if pol in ("keyframes", "window", "last4") else max(w["host_frame_bytes"] + w["host_log_bytes"]
                                                                   for w in worlds)
        if pol == "recall-text" or pol == "log-rule":
            host = max(w["host_log_bytes"] for w in worlds)
        out[pol] = {"accuracy": acc, "overall": float(np.mean([r["ok"] for r in pr])) if pr else math.nan,
                    "latency_p50_s": float(np.median(lat)) if lat else 0.0,
                    "latency_p99_s": float(np.percentile(lat, 99)) if lat else 0.0,
                    "host_bytes": int(host), "device_kv_bytes": worlds[0]["device_kv_bytes"],
                    "evidence_mean": float(np.mean([r["evidence"] for r in pr])) if pr else 0.0,
                    "landed": float(np.mean(hits)) if hits else math.nan}
    return out


def markdown(summary: dict, worlds: list[dict], command: str) -> str:
    cols = [f"{f}@{d}" for f in FORMS for d in DEPTHS]
    lines = [f"Recall benchmark ({command}); worlds " + ", ".join(f"seed {w['seed']} ({w['duration'] / 60:.0f} min, "
                                                                 f"{w['narrations']} narrations)" for w in worlds), "",
             "| policy | " + " | ".join(cols) + " | all | landed | p50 s | host MB | device KV MB |",
             "|---|" + "---|" * (len(cols) + 5)]
    for pol, s in summary.items():
        cells = [f"{s['accuracy'][c]['acc']:.2f}" if c in s["accuracy"] else "–" for c in cols]
        kv = s["device_kv_bytes"]
        hit = s.get("landed", math.nan)
        lines.append(f"| {pol} | " + " | ".join(cells) + f" | {s['overall']:.2f} | "
                     f"{'–' if hit != hit else f'{hit:.2f}'} | {s['latency_p50_s']:.3f} | "
                     f"{s['host_bytes'] / 1e6:.1f} | {kv / 1e6 if kv else 0:.1f} |")
    ns = {c: next((s["accuracy"][c]["n"] for s in summary.values() if c in s["accuracy"]), 0) for c in cols}
    lines += ["", "questions per cell: " + ", ".join(f"{c} {n}" for c, n in ns.items())]
    return "\n".join(lines) + "\n"


def plot(summary: dict, path: Path) -> None:
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    fig, axes = plt.subplots(1, len(FORMS), figsize=(13, 3.6), sharey=True)
    for ax, form in zip(axes, FORMS):
        for pol, s in summary.items():
            ds = [d for d in DEPTHS if f"{form}@{d}" in s["accuracy"]]
            ax.plot(ds, [s["accuracy"][f"{form}@{d}"]["acc"] for d in ds], marker="o", label=pol)
        ax.set_xscale("log")
        ax.set_xticks(list(DEPTHS), [str(d) for d in DEPTHS])
        ax.set_title(form)
        ax.set_xlabel("depth (minutes)")
    axes[0].set_ylabel("accuracy")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m vstream_lab.recall_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="models/demo", help="a model root (checkpoint/, llm/, vision/)")
    p.add_argument("--out", required=True, help="folder for recall.json, recall.md, recall.png")
    p.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="held-out world seeds")
    p.add_argument("--duration", type=float, default=3600.0, help="stream length in seconds (≥ 300)")
    p.add_argument("--cache", default=None, help="folder caching the worlds' vision tokens (default OUT/cache)")
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    p.add_argument("--policies", nargs="+", choices=list(POLICIES), default=None,
                   help="memory policies to ask (default: all; log-rule is always reported)")
    p.add_argument("--combine", nargs="+", metavar="JSON", default=None,
                   help="no run: summarise the worlds of earlier recall.json files together (e.g. one run per seed, "
                        "in parallel) into --out")
    args = p.parse_args(argv)
    command = "python -m vstream_lab.recall_bench " + " ".join(argv if argv is not None else sys.argv[1:])
    out = Path(args.out)
    if args.combine:
        worlds = [w for f in args.combine for w in json.loads(Path(f).read_text())["worlds"]]
        from vstream_ros.engine.recall.store import LogLine  # noqa: PLC0415
        for w in worlds:                                     # re-scored: the scoring rules are this file's
            log = [LogLine(*x) for x in w.get("log", [])]
            for r in w["rows"]:
                if r["policy"] == "log-rule" and log:        # and the rule baseline re-read off the log
                    r["answer"] = rule_answer(r, [ln for ln in log if ln.t <= r["now"]])
                r["ok"] = correct(r, r["answer"])
        _write(out, worlds, command)
        return 0
    if args.duration < 300:
        p.error("--duration must be at least 300 s (the questions use the last 4 minutes)")
    from vstream_ros.engine.checkpoint import load_live_model  # noqa: PLC0415
    from vstream_ros.engine.config import ModelSpec  # noqa: PLC0415
    from vstream_ros.engine.memory.context import read_context  # noqa: PLC0415
    if args.threads:
        torch.set_num_threads(args.threads)
    root = Path(args.model)
    try:
        model = load_live_model(ModelSpec(checkpoint=str(root / "checkpoint"), llm=str(root / "llm"),
                                          vision=str(root / "vision"), device="cpu", dtype="float32"))
    except (OSError, ValueError) as e:
        print(f"recall_bench: cannot load {root}: {e}", file=sys.stderr)
        return 2
    ctx = read_context(root / "checkpoint")
    memory = ctx.default_memory(2.0) if ctx is not None else None
    cache = Path(args.cache) if args.cache else out / "cache"
    worlds = [run_world(model, memory, world_config(s, args.duration), cache, policies=args.policies)
              for s in args.seeds]
    _write(out, worlds, command)
    return 0


def _write(out: Path, worlds: list[dict], command: str) -> None:
    summary = summarise(worlds)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "recall.json", suffix=".json") as tmp:
        Path(tmp).write_text(json.dumps({"command": command, "summary": summary, "worlds": worlds}, indent=1))
    md = markdown(summary, worlds, command)
    with atomic_path(out / "recall.md", suffix=".md") as tmp:
        Path(tmp).write_text(md)
    plot(summary, out / "recall.png")
    print(md)


if __name__ == "__main__":
    sys.exit(main())
