"""The timeline figure of an evaluation (timeline.png of `vstream eval --report` and `vstream demo`): reference
and predicted utterances over time, matched pairs joined, the tolerance band, and the p_silent trace with the
threshold when there is one.

Text labels are laid out, not sprinkled: horizontal, cut at a word boundary, placed in up to LANES stacked lanes
above the reference ticks / below the predicted ticks so that no two labels overlap, and kept inside the plot
(a label near the right edge ends at its tick). A label that fits in no lane is left out and the title says how
many are shown. Legends sit outside the plotting area, so they never cover a label or the data.

Imports: stdlib, matplotlib (Agg), this package's metrics types. Must not import torch or rclpy.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vstream_ros.replay.metrics import EvalResult, Utterance

LANES = 4                # label lanes per row
LABEL_CHARS = 44         # longest label, cut at a word boundary
FONT = 7                 # label font size (pt)
LANE_PT = FONT + 3       # lane pitch (pt)
GAP_PX = 6               # least horizontal gap between two labels in a lane


def shorten(text: str, n: int = LABEL_CHARS) -> str:
    """`text` on one line, at most n characters, cut at a word boundary with '…' (never mid-word)."""
    text = " ".join(text.split())
    if len(text) <= n:
        return text
    cut = text[: n - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:") + "…"


def _place_labels(ax, renderer, items: Sequence[tuple[float, str]], y: float, up: bool,
                  color: str) -> tuple[int, int]:
    """Annotate (x, text) items at row y in non-overlapping lanes; returns (labels placed, lanes used)."""
    lane_end = [float("-inf")] * LANES              # display x where each lane's last label ends
    right = ax.get_window_extent(renderer).x1
    placed = 0
    sign = 1 if up else -1
    for x, text in sorted(items):
        a = ax.annotate(text, xy=(x, y), xytext=(0, sign * 3), textcoords="offset points", fontsize=FONT,
                        color=color, ha="left", va="bottom" if up else "top", annotation_clip=False)
        box = a.get_window_extent(renderer)
        if box.x1 > right:                           # would leave the plot: end the label at its tick
            a.set_ha("right")
            box = a.get_window_extent(renderer)
        lane = next((i for i, end in enumerate(lane_end) if box.x0 >= end + GAP_PX), None)
        if lane is None:
            a.remove()
            continue
        a.xyann = (0, sign * (3 + lane * LANE_PT))
        lane_end[lane] = box.x1
        placed += 1
    return placed, sum(1 for end in lane_end if end > float("-inf"))


def _fit_rows(ax, fig, lanes_up: int, lanes_down: int) -> None:
    """y-limits leaving exactly the room the label lanes need above 0.9 and below 0.1 (ticks keep their size)."""
    height_px = ax.get_window_extent().height
    px_per_pt = fig.dpi / 72.0
    k_up = (4 + lanes_up * LANE_PT) * px_per_pt / height_px
    k_down = (4 + lanes_down * LANE_PT) * px_per_pt / height_px
    span = 0.8 / max(0.2, 1.0 - k_up - k_down - 0.08)
    ax.set_ylim(0.1 - (k_down + 0.04) * span, 0.9 + (k_up + 0.04) * span)


def timeline_figure(refs: Sequence[Utterance], preds: Sequence[Utterance], result: EvalResult,
                    trace: Sequence[Sequence[Any]] = (), threshold: float | None = None):
    """The matplotlib Figure (caller saves and closes it)."""
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    times = [u.t for u in refs] + [u.t for u in preds] + [float(r[0]) for r in trace]
    t0 = min(times) if times else 0.0
    t1 = max(times) if times else 1.0
    has_trace = len(trace) > 0
    fig, axes = plt.subplots(2 if has_trace else 1, 1, figsize=(11, 5.6 if has_trace else 3.0), sharex=True,
                             squeeze=False, gridspec_kw={"height_ratios": [1.6, 1] if has_trace else [1]})
    ax = axes[0, 0]
    tol = result.tolerance
    pad = max(0.5, 0.02 * (t1 - t0))
    ax.set_xlim(-pad, t1 - t0 + pad)
    ax.broken_barh([(u.t - t0 - tol, 2 * tol) for u in refs], (0.6, 0.3), color="tab:green", alpha=0.07, lw=0)
    hit_r = {round(p["ref_t"], 9) for p in result.pairs}
    hit_p = {round(p["pred_t"], 9) for p in result.pairs}
    miss = [u.t - t0 for u in refs if round(u.t, 9) not in hit_r]
    extra = [u.t - t0 for u in preds if round(u.t, 9) not in hit_p]
    ax.vlines([u.t - t0 for u in refs if round(u.t, 9) in hit_r], 0.6, 0.9, color="tab:green", lw=2,
              label=f"reference, matched ({len(refs) - len(miss)})")
    ax.vlines(miss, 0.6, 0.9, color="tab:red", lw=2, label=f"reference, missed ({len(miss)})")
    ax.vlines([u.t - t0 for u in preds if round(u.t, 9) in hit_p], 0.1, 0.4, color="tab:blue", lw=2,
              label=f"predicted, matched ({len(preds) - len(extra)})")
    ax.vlines(extra, 0.1, 0.4, color="tab:orange", lw=2, label=f"predicted, unmatched ({len(extra)})")
    for p in result.pairs:
        ax.plot([p["ref_t"] - t0, p["pred_t"] - t0], [0.6, 0.4], color="tab:gray", lw=1)
    ax.set_ylim(0.1 - 0.8, 0.9 + 0.8)               # provisional; _fit_rows sets the room the labels need
    ax.set_yticks([0.25, 0.75], ["predicted", "reference"])
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False, borderaxespad=0)
    if has_trace:
        bx = axes[1, 0]
        tt = [float(r[0]) - t0 for r in trace]
        ps = [float(r[1]) for r in trace]
        bx.plot(tt, ps, color="tab:purple", lw=1, marker=".", ms=3, label="P(silent) at each model frame")
        spoke = [(float(r[0]) - t0, float(r[1])) for r in trace if len(r) > 2 and r[2] == "respond"]
        if spoke:
            bx.scatter(*zip(*spoke), color="tab:red", s=18, zorder=3, label="decided: respond")
        if threshold is not None:
            bx.axhline(threshold, color="tab:red", ls="--", lw=1, label=f"threshold {threshold:g}")
        bx.set_ylim(-0.02, 1.02)
        bx.set_ylabel("P(silent)")
        bx.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False, borderaxespad=0)
    axes[-1, 0].set_xlabel(f"time since first event (s); t0 = {t0:.3f} s on the bag clock")
    fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    shown_r, up = _place_labels(ax, renderer, [(u.t - t0, shorten(u.text)) for u in refs], 0.9, True, "tab:green")
    shown_p, down = _place_labels(ax, renderer, [(u.t - t0, shorten(u.text)) for u in preds], 0.1, False,
                                  "tab:blue")
    _fit_rows(ax, fig, up, down)
    shown = shown_r + shown_p
    total = len(refs) + len(preds)
    labels = "" if shown == total else f"; labels: {shown} of {total} shown"
    ax.set_title(f"F1 {result.f1:.2f}  (P {result.precision:.2f}, R {result.recall:.2f}, tolerance ±{tol:g} s; "
                 f"grey = matched pairs, green band = tolerance{labels})", fontsize=9)
    return fig
