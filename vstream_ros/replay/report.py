"""Human-readable evaluation report: `report.md` (metric tables + the exact command), `timeline.png`
(reference vs predicted utterances over time, matched pairs joined, p_silent trace with the threshold),
`latency.png` (decision latency histogram and over stream time) and, when the stream was scored per time window
(replay/windows.py), `quality_time.png` (F1, precision and recall per window: quality over time). Matplotlib with the Agg backend; every
file is written atomically.

Imports: stdlib, numpy, matplotlib (Agg), this package's metrics/bagwrite. Must not import torch or rclpy.
"""
from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vstream_ros.atomic import write_bytes_atomic, write_text_atomic
from vstream_ros.replay.metrics import EvalResult, Utterance


def _fig_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return buf.getvalue()


def _short(text: str, n: int = 28) -> str:
    from vstream_ros.replay.timeline import shorten  # noqa: PLC0415
    return shorten(text, n)


def timeline_png(path: str | Path, refs: Sequence[Utterance], preds: Sequence[Utterance], result: EvalResult,
                 trace: Sequence[Sequence[Any]] = (), threshold: float | None = None) -> Path:
    """timeline.png (layout: vstream_ros/replay/timeline.py), written atomically."""
    from vstream_ros.replay.timeline import timeline_figure  # noqa: PLC0415
    return write_bytes_atomic(path, _fig_bytes(timeline_figure(refs, preds, result, trace, threshold)))


def latency_png(path: str | Path, stats: dict[str, Any]) -> Path:
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    dec = [float(x) for x in stats.get("decision_ms") or []]
    resp = [float(x) for x in stats.get("response_ms") or []]
    trace = stats.get("trace") or []
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 3.4))
    if dec:
        import numpy as np
        n_bins = min(40, max(8, int(math.sqrt(len(dec)) * 2)))
        both = np.asarray(dec + resp)
        lo, hi = max(float(both.min()), 1e-3), max(float(both.max()), 1e-3)
        log = hi > 8 * max(float(np.percentile(both, 50)), 1e-3)        # warm-up outliers: log bins keep detail
        bins = np.geomspace(lo, hi * 1.0001, n_bins) if log and hi > lo else n_bins
        ax.hist(dec, bins=bins, color="tab:blue", alpha=0.75, label=f"decision ({len(dec)} frames)")
        if resp:
            ax.hist(resp, bins=bins, color="tab:orange", alpha=0.6, label=f"reply done ({len(resp)})")
        if log and hi > lo:
            ax.set_xscale("log")
        ax.set_xlabel("ms after the frame was handed to the engine" + (" (log scale)" if log else ""))
        ax.set_ylabel("count")
        ax.legend(fontsize=7)
        if len(trace) == len(dec):
            t0 = float(trace[0][0])
            bx.plot([float(r[0]) - t0 for r in trace], dec, color="tab:blue", lw=1, marker=".", ms=3)
            bx.set_xlabel("stream time (s)")
        else:
            bx.plot(range(len(dec)), dec, color="tab:blue", lw=1, marker=".", ms=3)
            bx.set_xlabel("model frame")
        bx.set_ylabel("decision latency (ms)")
    else:
        for a in (ax, bx):
            a.text(0.5, 0.5, "no latency data\n(events JSONL without a .replay.json)", ha="center", va="center")
            a.set_axis_off()
    fig.suptitle("Decision latency (compute time per model frame; replay is paced by bag stamps)", fontsize=9)
    return write_bytes_atomic(path, _fig_bytes(fig))


def quality_time_png(path: str | Path, windows: dict[str, Any], whole_f1: float | None = None) -> Path:
    """quality_time.png: F1 / precision / recall per window against stream time (minutes), written atomically."""
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    rows = windows["rows"]
    mid = [(r["start"] + r["end"]) / 120.0 for r in rows]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for key, colour, mark in (("f1", "tab:blue", "o"), ("precision", "tab:green", "^"), ("recall", "tab:orange", "v")):
        ax.plot(mid, [r[key] for r in rows], color=colour, marker=mark, lw=1.5 if key == "f1" else 1,
                label=key if key != "f1" else "F1")
    if whole_f1 is not None:
        ax.axhline(whole_f1, color="tab:blue", ls=":", lw=1, label=f"F1 whole stream {whole_f1:.3f}")
    for r in rows:
        ax.axvline(r["start"] / 60.0, color="0.85", lw=0.8, zorder=0)
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlim(0, max(r["end"] for r in rows) / 60.0 or 1.0)
    ax.set_xlabel("stream time (min); points at window centres")
    ax.set_ylabel("score in the window")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"Quality over time: {windows['window_s'] / 60:g}-minute windows, tolerance "
                 f"±{windows['tolerance']:g} s", fontsize=9)
    return write_bytes_atomic(path, _fig_bytes(fig))


def window_table(windows: dict[str, Any]) -> list[str]:
    """Markdown rows of the per-window metrics."""
    from vstream_ros.replay.windows import minutes  # noqa: PLC0415
    out = ["| window (min) | refs | preds | refs matched | precision | recall | F1 | mean \\|Δt\\| (s) | ROUGE-L |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in windows["rows"]:
        out.append(f"| {minutes(r['start'])}–{minutes(r['end'])} | {r['n_ref']} | {r['n_pred']} | {r['tp']} | "
                   f"{_fmt(r['precision'])} | {_fmt(r['recall'])} | {_fmt(r['f1'])} | {_fmt(r['mean_abs_dt'])} | "
                   f"{_fmt(r['rouge_l'])} |")
    return out


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return "n/a" if math.isnan(x) else f"{x:.{digits}f}"
    return str(x)


def markdown(result: EvalResult, run: dict[str, Any], command: str, teacher: dict[str, Any] | None = None,
             images: Sequence[str] = ("timeline.png", "latency.png"), max_pairs: int = 15, made_by: str = "",
             windows: dict[str, Any] | None = None) -> str:
    """`command`: the evaluation command as it ran; `made_by`: the command recorded with the predictions;
    `windows`: replay/windows.window_metrics (a quality-over-time section)."""
    r = result
    rows = [("references", r.n_ref), ("predictions", r.n_pred), ("matched (TP)", r.tp),
            ("precision", r.precision), ("recall", r.recall), ("F1", r.f1),
            ("mean \\|Δt\\| (s)", r.mean_abs_dt), ("median \\|Δt\\| (s)", r.median_abs_dt),
            ("mean Δt (s, + = late)", r.mean_dt), ("early / on time / late", f"{r.early} / {r.on_time} / {r.late}"),
            ("predicted utterances / min", r.pred_per_min), ("reference utterances / min", r.ref_per_min),
            ("ROUGE-L F1 of matched pairs", r.rouge_l), ("token F1 of matched pairs", r.token_f1),
            ("stream duration (s)", r.duration_s)]
    out = ["# vstream evaluation report", "", "Command:", "", "```", command, "```", ""]
    out += (["Predictions made by:", "", "```", made_by, "```", ""] if made_by else
            ["Predictions made by: not recorded with the predictions (no command in their run stats, events "
             "header or bag metadata).", ""])
    out += [
           f"## Free-running metrics (tolerance ±{r.tolerance:g} s, one-to-one matching)", "",
           "| metric | value |", "|---|---|"]
    out += [f"| {k} | {_fmt(v)} |" for k, v in rows]
    if windows:
        out += ["", f"## Quality over time ({windows['window_s'] / 60:g}-minute windows, same matching)", "",
                *window_table(windows), "", "![quality over time](quality_time.png)"]
    if run:
        out += ["", "## Run", "", "| figure | value |", "|---|---|"]
        for k, v in run.items():
            if isinstance(v, dict):
                v = ", ".join(f"{kk} {_fmt(vv, 1)}" for kk, vv in v.items())
            out.append(f"| {k} | {_fmt(v, 2)} |")
    if teacher:
        out += ["", "## Teacher-forced metrics (VideoLLM-online protocol, docs/design/stream-format.md §9)", "",
                "| metric | value |", "|---|---|"]
        out += [f"| {k} | {_fmt(v, 4)} |" for k, v in teacher.items()]
    out += ["", "## Timeline", "", f"![timeline]({images[0]})", "", "## Latency", "", f"![latency]({images[1]})"]
    if r.pairs:
        out += ["", f"## Matched pairs (first {min(max_pairs, len(r.pairs))} of {len(r.pairs)})", "",
                "| ref t | pred t | Δt | reference | predicted | ROUGE-L |", "|---|---|---|---|---|---|"]
        for p in r.pairs[:max_pairs]:
            ref, pred = (_short(p[k], 60).replace("|", "\\|") for k in ("ref", "pred"))
            out.append(f"| {p['ref_t']:.2f} | {p['pred_t']:.2f} | {p['dt']:+.2f} | {ref} | {pred} | "
                       f"{p['rouge_l']:.2f} |")
    return "\n".join(out) + "\n"


def write_report(out_dir: str | Path, result: EvalResult, refs: Sequence[Utterance], preds: Sequence[Utterance],
                 stats: dict[str, Any], run: dict[str, Any], command: str, teacher: dict[str, Any] | None = None,
                 threshold: float | None = None, made_by: str = "",
                 windows: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write report.md, timeline.png and latency.png (+ quality_time.png with `windows`) into `out_dir`;
    returns their paths."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    thr = threshold if threshold is not None else stats.get("threshold")
    paths = {"timeline": timeline_png(d / "timeline.png", refs, preds, result, stats.get("trace") or [], thr),
             "latency": latency_png(d / "latency.png", stats)}
    if windows:
        paths["quality_time"] = quality_time_png(d / "quality_time.png", windows, result.f1)
    paths["report"] = write_text_atomic(d / "report.md", markdown(result, run, command, teacher, made_by=made_by,
                                                                  windows=windows))
    return paths
