"""The live view of `vstream demo` annotates each reply with the truth it is scored against (the metric's
one-to-one matching), not the nearest truth; every line is printed, in time order."""
from __future__ import annotations

import random
import re

from vstream_ros.demo.live import LivePrinter
from vstream_ros.replay.metrics import Utterance, timing_metrics

HINT = re.compile(r"^\s*([\d.]+) s  model  │ .*scored vs truth at ([\d.]+) s")


def _play(refs, preds, tol=1.0, fps=2.0):
    """Drive the printer as the demo does: frame(t) before each frame, reply(t) for replies at that frame."""
    out: list[str] = []
    pr = LivePrinter(refs, True, tol, out=out.append)
    end = max([u.t for u in refs + preds], default=0.0) + 3
    by_t = {}
    for u in preds:
        by_t.setdefault(round(u.t * fps), []).append(u)
    for k in range(int(end * fps) + 1):
        pr.frame(k / fps)
        for u in by_t.get(k, []):
            pr.reply(u.t, u.text)
    pr.frame(float("inf"))
    return out


def _hints(lines):
    return sorted((float(m.group(2)), float(m.group(1))) for m in map(HINT.match, lines) if m)


def test_the_issue_case_names_the_scored_truth_not_the_nearest():
    refs = [Utterance(38.22, "C picks up the black ball from the cyan block."),
            Utterance(39.59, "C places the black ball on the purple block.")]
    preds = [Utterance(39.0, "C picks up the cyan block."), Utterance(40.0, "C moves the black block.")]
    lines = _play(refs, preds)
    assert "  39.00 s  model  │ C picks up the cyan block.   (scored vs truth at 38.22 s, Δt +0.78 s)" in lines
    pairs = timing_metrics(refs, preds, 1.0).pairs
    assert _hints(lines) == sorted((round(p["ref_t"], 2), round(p["pred_t"], 2)) for p in pairs)


def test_hints_equal_the_metric_pairs_on_random_streams():
    rng = random.Random(7)
    for _ in range(40):
        refs = sorted({round(rng.uniform(0, 30), 2) for _ in range(rng.randint(0, 14))})
        preds = sorted({rng.randint(0, 60) / 2 for _ in range(rng.randint(0, 14))})
        R = [Utterance(t, f"r{t}") for t in refs]
        P = [Utterance(t, f"p{t}") for t in preds]
        lines = _play(R, P)
        assert len(lines) == len(R) + len(P)
        times = [float(x.split()[0]) for x in lines]
        assert times == sorted(times)
        pairs = timing_metrics(R, P, 1.0).pairs
        assert _hints(lines) == sorted((round(p["ref_t"], 2), round(p["pred_t"], 2)) for p in pairs)
        assert sum("unmatched" in x for x in lines) == len(P) - len(pairs)
