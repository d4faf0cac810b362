"""Free-running metrics of a replay: when the assistant spoke vs when the reference says it should have,
what it said, how often, and how fast the run was.

Matching (`match_times`): one-to-one pairs (reference, prediction) with |Δt| ≤ tolerance; among all such
matchings we take one with the **most pairs**, and among those the **smallest total |Δt|** - exactly what the
Hungarian algorithm gives on the cost matrix |Δt| with pairs beyond the tolerance forbidden. On a time line an
optimal matching never needs crossing pairs (uncrossing two crossing pairs keeps both within the tolerance
and does not increase the total |Δt|), so a monotone dynamic programme over the two sorted lists finds it
exactly in O(n·m) (done per independent cluster). Greedy nearest-first is not used: refs 0.0, 1.0 and preds
0.9, 1.95 with tolerance 1 give greedy one pair (1.0↔0.9) while two exist (0.0↔0.9, 1.0↔1.95).

Δt = t_pred − t_ref: negative = early, positive = late, 0 = on time.
Undefined ratios: with no predictions and no references P = R = F1 = 1 (nothing to say, nothing said);
otherwise a ratio with a zero denominator is 0 (silence is never rewarded, chatter to an empty reference is
never rewarded).

Text similarity of matched pairs: ROUGE-L F1 (longest common subsequence of normalised words: order-aware,
no model, no download, deterministic) and bag-of-words token F1 (SQuAD-style), both on lower-cased words with
punctuation removed.

Imports: stdlib, numpy. Must not import torch, rosbags or rclpy.
"""
from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Utterance:
    """A timed utterance (seconds, same clock for predictions and references)."""

    t: float
    text: str = ""


def match_times(ref: Sequence[float], pred: Sequence[float], tolerance: float) -> list[tuple[int, int]]:
    """Max-cardinality, min-total-|Δt| one-to-one matching; returns sorted (ref_index, pred_index) pairs."""
    if tolerance < 0 or not math.isfinite(tolerance):
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance}")
    r_order = sorted(range(len(ref)), key=lambda i: (ref[i], i))
    p_order = sorted(range(len(pred)), key=lambda j: (pred[j], j))
    pairs: list[tuple[int, int]] = []
    for rs, ps in _clusters([ref[i] for i in r_order], [pred[j] for j in p_order], tolerance):
        for a, b in _match_sorted([ref[r_order[i]] for i in rs], [pred[p_order[j]] for j in ps], tolerance):
            pairs.append((r_order[rs[a]], p_order[ps[b]]))
    return sorted(pairs)


def _clusters(r: list[float], p: list[float], tol: float):
    """Split two sorted lists where consecutive merged times are > tol apart (no pair can span a cut)."""
    merged = sorted([(t, 0, i) for i, t in enumerate(r)] + [(t, 1, j) for j, t in enumerate(p)])
    group: tuple[list[int], list[int]] = ([], [])
    last = None
    for t, kind, idx in merged:
        if last is not None and t - last > tol:
            if group[0] and group[1]:
                yield group
            group = ([], [])
        group[kind].append(idx)
        last = t
    if group[0] and group[1]:
        yield group


def _match_sorted(r: list[float], p: list[float], tol: float) -> list[tuple[int, int]]:
    n, m = len(r), len(p)
    big = min(n, m) * tol + 1.0                    # one more pair always beats any saving in |Δt|
    ra, pa = np.asarray(r, float), np.asarray(p, float)
    dp = np.zeros((n + 1, m + 1))
    for i in range(1, n + 1):
        d = np.abs(pa - ra[i - 1])                  # [m]
        gain = np.where(d <= tol, big - d, -np.inf)
        row = np.maximum(dp[i - 1, 1:], dp[i - 1, :-1] + gain)
        dp[i, 1:] = np.maximum.accumulate(np.maximum(row, dp[i, 0]))
    pairs = []
    i, j = n, m
    while i > 0 and j > 0:
        if dp[i, j] == dp[i, j - 1]:
            j -= 1
        elif dp[i, j] == dp[i - 1, j]:
            i -= 1
        else:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
    return pairs[::-1]


_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


def normalize_words(text: str) -> list[str]:
    """Lower-cased words without punctuation."""
    return _WORD.findall(text.lower())


def rouge_l_f1(a: str, b: str) -> float:
    """ROUGE-L F1 (β = 1) of two texts on normalised words; 1.0 if both are empty."""
    x, y = normalize_words(a), normalize_words(b)
    if not x and not y:
        return 1.0
    if not x or not y:
        return 0.0
    prev = [0] * (len(y) + 1)
    for wx in x:
        cur = [0]
        for k, wy in enumerate(y):
            cur.append(prev[k] + 1 if wx == wy else max(prev[k + 1], cur[k]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    p, r = lcs / len(y), lcs / len(x)
    return 2 * p * r / (p + r)


def token_f1(a: str, b: str) -> float:
    """Bag-of-words F1 of two texts on normalised words; 1.0 if both are empty."""
    x, y = Counter(normalize_words(a)), Counter(normalize_words(b))
    if not x and not y:
        return 1.0
    common = sum((x & y).values())
    if common == 0:
        return 0.0
    p, r = common / sum(y.values()), common / sum(x.values())
    return 2 * p * r / (p + r)


def _ratio(num: int, den: int, both_empty: bool) -> float:
    if both_empty:
        return 1.0
    return num / den if den else 0.0


def _summary(xs: Sequence[float]) -> dict[str, float | None]:
    if not xs:
        return {"n": 0, "mean": None, "median": None, "p90": None, "max": None}
    a = np.asarray(xs, float)
    return {"n": int(a.size), "mean": float(a.mean()), "median": float(np.median(a)),
            "p90": float(np.percentile(a, 90)), "max": float(a.max())}


@dataclass
class EvalResult:
    """All free-running metrics; `to_dict()` is what report.md and `--json` show."""

    tolerance: float
    n_ref: int
    n_pred: int
    tp: int
    precision: float
    recall: float
    f1: float
    mean_abs_dt: float | None
    median_abs_dt: float | None
    mean_dt: float | None
    early: int
    late: int
    on_time: int
    duration_s: float
    pred_per_min: float
    ref_per_min: float
    rouge_l: float | None
    token_f1: float | None
    pairs: list[dict[str, Any]] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def timing_metrics(refs: Sequence[Utterance], preds: Sequence[Utterance], tolerance: float = 2.0,
                   duration_s: float | None = None) -> EvalResult:
    """Timing + text metrics of predictions against references (see module docstring for conventions).

    duration_s: stream length for the per-minute rates; default = span of all times (≥ 1 s guard: none).
    """
    pairs_idx = match_times([u.t for u in refs], [u.t for u in preds], tolerance)
    tp, n_ref, n_pred = len(pairs_idx), len(refs), len(preds)
    both_empty = n_ref == 0 and n_pred == 0
    precision = _ratio(tp, n_pred, both_empty)
    recall = _ratio(tp, n_ref, both_empty)
    f1 = 1.0 if both_empty else (2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    dts = [preds[j].t - refs[i].t for i, j in pairs_idx]
    abs_dts = [abs(d) for d in dts]
    pairs = []
    rouge, tf1 = [], []
    for (i, j), dt in zip(pairs_idx, dts):
        rl, tf = rouge_l_f1(refs[i].text, preds[j].text), token_f1(refs[i].text, preds[j].text)
        rouge.append(rl)
        tf1.append(tf)
        pairs.append({"ref_t": refs[i].t, "pred_t": preds[j].t, "dt": dt, "ref": refs[i].text,
                      "pred": preds[j].text, "rouge_l": rl, "token_f1": tf})
    if duration_s is None:
        times = [u.t for u in refs] + [u.t for u in preds]
        duration_s = (max(times) - min(times)) if times else 0.0
    minutes = duration_s / 60.0
    return EvalResult(
        tolerance=float(tolerance), n_ref=n_ref, n_pred=n_pred, tp=tp, precision=precision, recall=recall, f1=f1,
        mean_abs_dt=statistics.fmean(abs_dts) if abs_dts else None,
        median_abs_dt=statistics.median(abs_dts) if abs_dts else None,
        mean_dt=statistics.fmean(dts) if dts else None,
        early=sum(d < 0 for d in dts), late=sum(d > 0 for d in dts), on_time=sum(d == 0 for d in dts),
        duration_s=float(duration_s),
        pred_per_min=n_pred / minutes if minutes > 0 else 0.0,
        ref_per_min=n_ref / minutes if minutes > 0 else 0.0,
        rouge_l=statistics.fmean(rouge) if rouge else None,
        token_f1=statistics.fmean(tf1) if tf1 else None,
        pairs=pairs)


def run_metrics(stats: dict[str, Any]) -> dict[str, Any]:
    """Latency and ingest figures from a replay's run stats (`driver.ReplayResult.stats`).

    Keys used: decision_ms (per model frame), response_ms (per reply), wall_s, stream_s, frames_in,
    frames_used, frames_skipped, corrupt, undecodable, bad_encoding. Missing keys are simply absent.
    """
    out: dict[str, Any] = {}
    if "decision_ms" in stats:
        out["decision_latency_ms"] = _summary(stats["decision_ms"])
    if "response_ms" in stats:
        out["response_latency_ms"] = _summary(stats["response_ms"])
    wall = stats.get("wall_s")
    if wall:
        if "frames_in" in stats:
            out["ingest_fps"] = stats["frames_in"] / wall
        if "frames_used" in stats:
            out["model_fps"] = stats["frames_used"] / wall
        if stats.get("stream_s"):
            out["realtime_factor"] = stats["stream_s"] / wall
    for k in ("frames_in", "frames_used", "frames_skipped", "corrupt", "undecodable", "bad_encoding",
              "queries", "wall_s", "stream_s"):
        if k in stats:
            out[k] = stats[k]
    out["frames_dropped"] = sum(int(stats.get(k, 0)) for k in ("corrupt", "undecodable", "bad_encoding"))
    return out
