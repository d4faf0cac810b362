"""The table `vstream bench` prints: reference loop (a) vs fast pipeline (b), medians over repeats, and one
comparison column that reads the same way for every row: how much better (or worse) b is than a.

Rates (higher is better) compare as b/a, times and memory (lower is better) as a/b, so "×2.00 better" always
means the pipeline is twice as good on that row; counts where zero is normal (dropped frames) compare as a
difference ("same", "+3 frames"). A figure one loop did not produce reads "n/a", never "nan".

Imports: stdlib only.
"""
from __future__ import annotations

import math

HIGHER_IS_BETTER = {"ingest_fps", "decode_tok_s"}
COUNTS = {"dropped": "frames"}
DIRECTION = {True: "↑", False: "↓"}


def _num(x) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def compare(metric: str, a, b) -> str:
    """The comparison cell: b relative to a, phrased so that 'better' is better for this metric."""
    a, b = _num(a), _num(b)
    if a is None or b is None:
        return "n/a"
    if metric in COUNTS:
        d = b - a
        return "same" if d == 0 else f"{d:+g} {COUNTS[metric]}"
    hi = metric in HIGHER_IS_BETTER
    num, den = (b, a) if hi else (a, b)
    if den == 0 or num == 0:
        return "n/a"
    factor = num / den
    if abs(factor - 1) < 0.005:
        return "same"
    return f"×{factor:.2f} better" if factor > 1 else f"×{1 / factor:.2f} worse"


def format_table(result: dict, metrics=None) -> str:
    summary = result["summary"]
    metrics = metrics or list(summary["reference"])
    rows = [f"{'metric':<20}{'reference (a)':>15}{'pipeline (b)':>15}   b vs a"]
    for m in metrics:
        a, b = summary["reference"][m]["median"], summary["pipeline"][m]["median"]
        arrow = "" if m in COUNTS else " " + DIRECTION[m in HIGHER_IS_BETTER]
        cells = ["n/a" if _num(x) is None else f"{x:.2f}" for x in (a, b)]
        rows.append(f"{m + arrow:<20}{cells[0]:>15}{cells[1]:>15}   {compare(m, a, b)}")
    rows.append("(medians over repeats; ↑ higher is better, ↓ lower is better; \"b vs a\" says how much better the "
                "pipeline is on that row; latencies in ms; peak_mem = CUDA max allocated, or process RSS on CPU)")
    return "\n".join(rows)
