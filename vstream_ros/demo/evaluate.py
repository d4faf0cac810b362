"""Run the streaming engine with the demo model (and the model-free baselines) on a held-out stream and score
everything with the replay metrics (timing P/R/F1 at a tolerance, |Δt|, ROUGE-L), plus what ROUGE-L hides on
these short sentences: whether a matched utterance names the reference's object ("the red cup": colour and
shape; and each part alone) and its action (picks up / places / moves).

Input is a camera stream, `(capture time s, RGB uint8 frame)` pairs at the camera's fps (a shipped held-out
video, demo/streams.py; the lab renders worlds straight from its generator): every frame goes to
`engine.runner.StreamRunner.push`, which resamples to the model fps, letterboxes, encodes and decides. Baselines
read the same model-grid frames (what the model saw). References are the ground-truth narrations.

Imports: torch (via engine), engine.*, replay.metrics, demo.baselines. Never ROS, never vstream_lab.
"""
from __future__ import annotations

import re
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Callable

from vstream_ros.engine.config import DEFAULT_BACKEND, DEFAULT_MEMORY_POLICY, StreamConfig
from vstream_ros.engine.events import FrameDecision, QueryEvent, Response
from vstream_ros.engine.frames import FrameClock
from vstream_ros.replay.metrics import EvalResult, Utterance, timing_metrics

from .baselines import ChangeDetector, IntervalNarrator, SilentNarrator

# The object words the demo model narrates with (its synthetic worlds' catalogue; the lab checks they agree).
COLOUR_WORDS = ("red", "blue", "green", "yellow", "purple", "white", "black", "cyan")
SHAPE_WORDS = ("block", "cup", "ball", "card")

TOLERANCE = 1.0        # s: at 2 s a fixed-interval narrator scores too well (pick/place come 1–1.7 s apart)
BASELINE_NAMES = ("silent", "interval-2s", "interval-5s", "change")


_OBJECT = re.compile(r"\b(" + "|".join(COLOUR_WORDS) + r")\s+(" + "|".join(SHAPE_WORDS) + r")\b")
_ACTION = re.compile(r"\b(picks up|places|puts|moves)\b")


def named_object(text: str) -> str | None:
    """The first object a narration names ("red cup"), None if it names none."""
    m = _OBJECT.search(text.lower())
    return f"{m.group(1)} {m.group(2)}" if m else None


def named_parts(text: str) -> tuple[str | None, str | None]:
    """(colour, shape) of the first object a narration names, (None, None) if it names none."""
    obj = named_object(text)
    return tuple(obj.split(" ", 1)) if obj else (None, None)


def named_action(text: str) -> str | None:
    m = _ACTION.search(text.lower())
    return m.group(1) if m else None


@dataclass
class ModelRun:
    preds: list[Utterance]
    trace: list[tuple[float, float, str | None]]      # (time, p_silent, decision) per model frame
    stats: dict = field(default_factory=dict)
    answers: list = field(default_factory=list)       # (time, question, answer, evidence stamps) per asked question


def run_model(model, frames: Iterable[tuple[float, object]], cfg: StreamConfig | None = None,
              on_frame: Callable[[float], None] | None = None,
              on_event: Callable[[object], None] | None = None, backend: str = DEFAULT_BACKEND,
              memory_policy: str = DEFAULT_MEMORY_POLICY, memory=None, asks=()) -> ModelRun:
    """Stream every camera frame through a StreamRunner and collect the replies (and the answers to `asks`,
    (time, question) pairs). The LLM backend comes from engine.factory: `memory` (a MemoryConfig, e.g.
    EngineConfig.memory_plan's) wins over `memory_policy`."""
    from vstream_ros.engine.factory import build_backend  # noqa: PLC0415
    from vstream_ros.engine.runner import StreamRunner  # noqa: PLC0415
    cfg = cfg or StreamConfig()
    llm = build_backend(model, backend, memory_policy, fps=cfg.fps, memory=memory)
    answers, asked = [], []

    def seen(ev):
        if isinstance(ev, QueryEvent):
            asked.append(ev)
        elif isinstance(ev, Response) and ev.trigger == "query" and asked:
            q = asked.pop(0)
            answers.append((q.time, q.text, ev.text, tuple(ev.evidence)))
        if on_event is not None:
            on_event(ev)
    runner = StreamRunner(model, llm, cfg, on_event=seen)
    for t, text in asks:
        runner.ask(text, t)
    preds, trace = [], []
    t0 = time.perf_counter()
    last_t = first_t = None
    for t, rgb in frames:
        first_t = t if first_t is None else first_t
        last_t = t
        if on_frame is not None:
            on_frame(t)
        for ev in runner.push(rgb, t):
            if isinstance(ev, FrameDecision):
                trace.append((ev.time, ev.p_silent, ev.decision))
            elif isinstance(ev, Response) and ev.trigger == "proactive":
                preds.append(Utterance(ev.time, ev.text))
    runner.finish()
    stats = runner.stats.as_dict()
    stats.update(wall_s=time.perf_counter() - t0, stream_s=0.0 if last_t is None else last_t - first_t)
    return ModelRun(preds, trace, stats, answers)


def grid_frames(frames: Iterable[tuple[float, object]], fps: float) -> list[tuple[float, object]]:
    """The (t, rgb) frames a model at `fps` receives (same FrameClock as the engine)."""
    clock = FrameClock(fps)
    return [(t, rgb) for t, rgb in frames if clock.accept(t)]


def run_baselines(frames: Iterable[tuple[float, object]], fps: float = 2.0) -> dict[str, list[Utterance]]:
    """Each model-free narrator over the model-grid frames of a camera stream."""
    frames = grid_frames(frames, fps)
    narrators = {"silent": SilentNarrator(), "interval-2s": IntervalNarrator(2.0), "interval-5s": IntervalNarrator(5.0),
                 "change": ChangeDetector()}
    return {name: [Utterance(u.time, u.text) for u in n.run(frames)] for name, n in narrators.items()}


def score(refs, preds, duration_s: float, tolerance: float = TOLERANCE) -> EvalResult:
    """Timing and text metrics of `preds` against `refs` on a stream of `duration_s` seconds."""
    return timing_metrics(refs, preds, tolerance, duration_s=duration_s)


@dataclass
class Aggregate:
    """Micro-averaged over streams: P/R/F1 from summed counts; |Δt| and ROUGE-L over all matched pairs."""

    name: str
    n_ref: int = 0
    n_pred: int = 0
    tp: int = 0
    abs_dt: list = field(default_factory=list)
    rouge: list = field(default_factory=list)
    tokf1: list = field(default_factory=list)
    obj: list = field(default_factory=list)        # per matched pair: names the reference's object (1/0)
    colour: list = field(default_factory=list)     # … its colour (1/0), whatever the shape
    shape: list = field(default_factory=list)      # … its shape (1/0), whatever the colour
    act: list = field(default_factory=list)        # per matched pair: says the reference's action (1/0)

    def add(self, r: EvalResult) -> "Aggregate":
        self.n_ref += r.n_ref
        self.n_pred += r.n_pred
        self.tp += r.tp
        self.abs_dt += [abs(p["dt"]) for p in r.pairs]
        self.rouge += [p["rouge_l"] for p in r.pairs]
        self.tokf1 += [p["token_f1"] for p in r.pairs]
        self.obj += [float(named_object(p["pred"]) == named_object(p["ref"])) for p in r.pairs]
        parts = [(named_parts(p["pred"]), named_parts(p["ref"])) for p in r.pairs]
        self.colour += [float(pr[0] == rf[0]) for pr, rf in parts]
        self.shape += [float(pr[1] == rf[1]) for pr, rf in parts]
        self.act += [float(named_action(p["pred"]) == named_action(p["ref"])) for p in r.pairs]
        return self

    @property
    def precision(self) -> float:
        return self.tp / self.n_pred if self.n_pred else (1.0 if not self.n_ref else 0.0)

    @property
    def recall(self) -> float:
        return self.tp / self.n_ref if self.n_ref else (1.0 if not self.n_pred else 0.0)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def row(self) -> dict:
        mean = (lambda xs: statistics.fmean(xs) if xs else None)
        return {"name": self.name, "f1": self.f1, "precision": self.precision, "recall": self.recall,
                "n_ref": self.n_ref, "n_pred": self.n_pred, "tp": self.tp, "mean_abs_dt": mean(self.abs_dt),
                "rouge_l": mean(self.rouge), "token_f1": mean(self.tokf1), "object": mean(self.obj),
                "colour": mean(self.colour), "shape": mean(self.shape), "action": mean(self.act)}


def format_table(rows: list[dict], markdown: bool = False) -> str:
    """Rows of Aggregate.row() as a plain-text (or Markdown) table."""
    def f(x, nd=3):
        return "n/a" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))
    head = ["narrator", "F1@1s", "P", "R", "said/ref", "mean |Δt| s", "ROUGE-L", "token F1", "object", "colour", "shape", "action"]
    body = [[r["name"], f(r["f1"]), f(r["precision"]), f(r["recall"]), f"{r['n_pred']}/{r['n_ref']}",
             f(r["mean_abs_dt"], 2), f(r["rouge_l"]), f(r["token_f1"]), f(r.get("object")), f(r.get("colour")),
             f(r.get("shape")), f(r.get("action"))]
            for r in rows]
    if markdown:
        head = [h.replace("|", "\\|") for h in head]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(b) + " |" for b in body])
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*head), fmt.format(*["-" * w for w in widths])] + [fmt.format(*b) for b in body])
