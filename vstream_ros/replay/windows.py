"""Quality over time: the free-running metrics of one stream per time window (`vstream eval --window-minutes`).

A long stream scored only as a whole hides a model that narrates well for a minute and badly for the hour after;
per window it shows. The stream is matched ONCE, as a whole (metrics.match_times, the same tolerance), then each
window counts its references and how many of them were matched (`tp`: recall), its predictions and how many of
them were matched (`tp_pred`: precision); so the windows' counts add up to the whole stream's and a pair across a
window edge counts for the reference's window in recall and the prediction's in precision. Per window:
P = tp_pred / predictions, R = tp / references, F1 of those, mean |Δt| and ROUGE-L of the pairs whose reference
falls in it; the conventions for empty
windows are those of metrics.timing_metrics (nothing to say and nothing said: 1.0; otherwise a zero denominator
gives 0).

Window origin: stream time 0 when the earliest time lies inside the first window (events JSONL and Ego4D JSON
references use stream / video time), else the earliest time (bags stamp on the wall clock). The last window may be
shorter; its `end` says so.

`auto_window_s`: windows are on by default for streams longer than AUTO_ABOVE_S (20 min), 10 minutes wide.

Imports: stdlib and replay.metrics. Must not import torch, rosbags or rclpy.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from vstream_ros.replay.metrics import Utterance, match_times, rouge_l_f1

AUTO_ABOVE_S = 20 * 60.0        # windows by default for streams longer than this
AUTO_WINDOW_S = 10 * 60.0       # … this wide


def auto_window_s(duration_s: float | None, window_minutes: float | None) -> float | None:
    """Window width in seconds: `window_minutes` when given (0 = off), else 10 min for streams over 20 min."""
    if window_minutes is not None:
        if not (window_minutes >= 0 and math.isfinite(window_minutes)):
            raise ValueError(f"--window-minutes must be a number >= 0 (0 = whole stream only), got {window_minutes}")
        return window_minutes * 60.0 if window_minutes > 0 else None
    if duration_s is not None and duration_s > AUTO_ABOVE_S:
        return AUTO_WINDOW_S
    return None


def _ratio(num: int, den: int, both_empty: bool) -> float:
    if both_empty:
        return 1.0
    return num / den if den else 0.0


def window_metrics(refs: Sequence[Utterance], preds: Sequence[Utterance], tolerance: float, window_s: float,
                   duration_s: float | None = None) -> dict[str, Any]:
    """{"window_s", "origin", "rows": [{start, end, n_ref, n_pred, tp, tp_pred, precision, recall, f1,
    mean_abs_dt, rouge_l}]}; start/end are seconds from the origin."""
    if not (window_s > 0 and math.isfinite(window_s)):
        raise ValueError(f"window must be > 0 s, got {window_s}")
    times = [u.t for u in refs] + [u.t for u in preds]
    first = min(times) if times else 0.0
    origin = 0.0 if 0.0 <= first < window_s else first
    span = max([t - origin for t in times], default=0.0)
    if duration_s:
        span = max(span, float(duration_s))
    n_win = max(1, math.ceil(span / window_s - 1e-9)) if span > 0 else 1

    def win(t: float) -> int:
        return min(n_win - 1, max(0, int((t - origin) // window_s)))

    pairs = match_times([u.t for u in refs], [u.t for u in preds], tolerance)
    n_ref, n_pred, tp, tp_pred = [0] * n_win, [0] * n_win, [0] * n_win, [0] * n_win
    dts: list[list[float]] = [[] for _ in range(n_win)]
    rouge: list[list[float]] = [[] for _ in range(n_win)]
    for u in refs:
        n_ref[win(u.t)] += 1
    for u in preds:
        n_pred[win(u.t)] += 1
    for i, j in pairs:
        w = win(refs[i].t)
        tp[w] += 1
        tp_pred[win(preds[j].t)] += 1
        dts[w].append(abs(preds[j].t - refs[i].t))
        rouge[w].append(rouge_l_f1(refs[i].text, preds[j].text))
    rows = []
    for w in range(n_win):
        empty = n_ref[w] == 0 and n_pred[w] == 0
        p, r = _ratio(tp_pred[w], n_pred[w], empty), _ratio(tp[w], n_ref[w], empty)
        f1 = 1.0 if empty else (2 * p * r / (p + r) if p + r else 0.0)
        rows.append({"start": w * window_s, "end": min((w + 1) * window_s, max(span, w * window_s)),
                     "n_ref": n_ref[w], "n_pred": n_pred[w], "tp": tp[w], "tp_pred": tp_pred[w], "precision": p, "recall": r, "f1": f1,
                     "mean_abs_dt": statistics.fmean(dts[w]) if dts[w] else None,
                     "rouge_l": statistics.fmean(rouge[w]) if rouge[w] else None})
    return {"window_s": float(window_s), "origin": float(origin), "tolerance": float(tolerance), "rows": rows}


def format_windows(windows: dict[str, Any]) -> str:
    """One line per window: `min 0-10  F1 0.950  P … R …  said/ref …`."""
    out = []
    for r in windows["rows"]:
        out.append(f"  min {minutes(r['start'])}-{minutes(r['end'])}  F1 {r['f1']:.3f}  P {r['precision']:.3f}  "
                   f"R {r['recall']:.3f}  said/ref {r['n_pred']}/{r['n_ref']}")
    return "\n".join(out)


def minutes(seconds: float) -> str:
    """Seconds as minutes for labels: `10`, `9.91`."""
    return f"{round(seconds / 60.0, 2):g}"


def f1_series(windows: dict[str, Any]) -> str:
    """The per-window F1 on one line (`0.53 0.24 0.30`), for tables."""
    return " ".join(f"{r['f1']:.2f}" for r in windows["rows"])


__all__ = ["AUTO_ABOVE_S", "AUTO_WINDOW_S", "auto_window_s", "window_metrics", "format_windows", "f1_series",
           "minutes"]
