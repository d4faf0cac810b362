"""The summary bench/live8b.py prints last: each target of docs/design/performance.md (P1–P6) beside the figure that
measures it, compiled vs eager, int8 / int4, several streams, then every part's status, time and step modes.

A figure whose part failed or was skipped reads "n/a (<status>)", never a number. Only GPU runs are results: the
table says so when the device is a CPU.

Imports: stdlib only.
"""
from __future__ import annotations

import math

GB = 1e9


def _part(result: dict, name: str) -> dict | None:
    e = result["parts"].get(name)
    return e.get("result") if e and e.get("status") == "ok" else None


def _why(result: dict, name: str) -> str:
    e = result["parts"].get(name)
    return f"n/a ({e['status']})" if e else "n/a (not run)"


def _f(x, fmt: str = "{:.1f}") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return fmt.format(x)


def _modes(r: dict | None) -> str:
    if r and "build_s" in r:
        return f"{r['device']} {r['dtype']}, {r['layers']} layers, hidden {r['hidden']}"
    m = (r or {}).get("modes") or {}
    return "/".join(str(m[k]) for k in ("prefill", "decode", "attn", "loop") if k in m) or "?"


def _mem(m: dict | None, key: str = "allocated") -> str:
    return "n/a (CPU)" if not m else f"{m[key] / GB:.2f} GB"


def target_rows(result: dict) -> list[tuple[str, str, str, str]]:
    """(target, figure, must, measured) rows."""
    rows = []
    r = _part(result, "p4_long")
    if r:
        note = f"{r['frames_submitted']}/{r['frames_asked']} frames" + (", capped" if r["capped"] else "")
        if r.get("fps_first_10pct"):
            note += f"; first/last 10 %: {_f(r['fps_first_10pct'])}/{_f(r.get('fps_last_10pct'))} fps"
        rows.append(("P1", "sustained ingest, 1 h at 2 fps replayed (fps)", "≥ 100",
                     f"{_f(r['ingest_fps'])} ({note}; {_modes(r)})"))
    else:
        rows.append(("P1", "sustained ingest, 1 h at 2 fps replayed (fps)", "≥ 100", _why(result, "p4_long")))
    r = _part(result, "p1_per_frame")
    rows.append(("P1", "ingest, one frame per forward (fps)", "—",
                 f"{_f(r['ingest_fps'])} ({_modes(r)})" if r else _why(result, "p1_per_frame")))
    r = _part(result, "p2_silent")
    rows.append(("P2", "frame → decision p50 / p99 (ms), 10 fps camera, silent", "≤ 10 / ≤ 20",
                 f"{_f(r['decision_p50_ms'])} / {_f(r['decision_p99_ms'])}" if r else _why(result, "p2_silent")))
    r = _part(result, "p6_pipeline")
    n = result.get("args", {}).get("utterance_tokens", 20)
    rows.append(("P3", f"{n}-token utterance after the decision (ms, median); first token", "≤ 150",
                 f"{_f(r['utterance_ms'])}; {_f(r['first_token_ms'])}" if r else _why(result, "p6_pipeline")))
    r = _part(result, "p4_long")
    if r and r.get("cuda_start"):
        a, b = r["cuda_start"]["allocated"], r["cuda_end"]["allocated"]
        rows.append(("P4", "GPU allocated at start → end of the hour; peak", "+2 %, ≤ 24 GB",
                     f"{_mem(r['cuda_start'])} → {_mem(r['cuda_end'])} ({(b - a) / a * 100:+.2f} %); "
                     f"peak {_mem(r['cuda_end'], 'peak')}; cache {r['cache_tokens_end']} tokens"))
    else:
        rows.append(("P4", "GPU allocated at start → end of the hour; peak", "+2 %, ≤ 24 GB",
                     f"n/a (CPU); cache {r['cache_tokens_end']} tokens" if r else _why(result, "p4_long")))
    for name, fps in (("p5_10fps", 10), ("p5_30fps", 30)):
        r = _part(result, name)
        rows.append(("P5", f"frames lost while talking, {fps} fps camera (model at {fps} fps)",
                     "0" if fps == 10 else "0 (stretch)",
                     f"{r['frames_lost']} of {r['frames_submitted']}; p99 decision {_f(r['decision_p99_ms'])} ms"
                     if r else _why(result, name)))
    a, b = _part(result, "reference"), _part(result, "p6_pipeline")
    rows.append(("P6", "ingest, product path / original loop (same frames, weights)", "≥ 5×",
                 f"×{b['ingest_fps'] / a['ingest_fps']:.2f} ({_f(b['ingest_fps'])} vs {_f(a['ingest_fps'])} fps)"
                 if a and b and a.get("ingest_fps") else _why(result, "reference" if not a else "p6_pipeline")))
    e = _part(result, "eager")
    rows.append(("—", "compiled vs eager: ingest fps; utterance ms", "—",
                 f"{_f(b['ingest_fps'])} vs {_f(e['ingest_fps'])}; {_f(b['utterance_ms'])} vs {_f(e['utterance_ms'])}"
                 f" ({_modes(b)} vs {_modes(e)})" if b and e else _why(result, "eager" if not e else "p6_pipeline")))
    for mode in ("int8", "int4"):
        r = _part(result, mode)
        if r:
            w = r.get("weights", {})
            rows.append(("—", f"{mode}: ingest fps; utterance ms; LLM weights; resident; peak", "—",
                         f"{_f(r['ingest_fps'])}; {_f(r['utterance_ms'])}; {w.get('weight_bytes', 0) / GB:.2f} GB "
                         f"({w.get('weight_formats')}); {_mem(r.get('cuda_resident_quantized'))}; "
                         f"{_mem(r.get('cuda_peak_after'), 'peak')} ({_modes(r)})"))
        else:
            rows.append(("—", f"{mode}: ingest fps; utterance ms; LLM weights; resident; peak", "—",
                         _why(result, mode)))
    e = result["parts"].get("streams")
    if e and e.get("status") == "ok":
        txt = "; ".join(f"{n}: " + ("error " + v["error"] if "error" in v else "see JSON")
                        for n, v in e["result"].items())
    elif e:
        txt = f"{e['status']}: {e.get('reason') or e.get('error')}"
    else:
        txt = "n/a (not run)"
    rows.append(("—", "several streams (1, 2, 4, 8): aggregate fps, per-stream latency", "—", txt))
    return rows


def format_summary(result: dict) -> str:
    env = result["environment"]
    lines = [f"live8b on {env['device']} (torch {env['torch']}, CUDA {env['cuda']}, transformers "
             f"{env['transformers']}, torchao {env['torchao']}), commit {env['commit']}, {env['date_utc']} UTC, "
             f"{result.get('total_s', 0):.0f} s"]
    if env.get("cuda") is None or str(env["device"]).startswith("CPU"):
        lines.append("CPU run: a plumbing check of the GPU code path, not a speed result")
    rows = target_rows(result)
    w = max(len(r[1]) for r in rows)
    lines.append(f"{'':<4}{'figure':<{w}}  {'must':<15}measured")
    lines += [f"{t:<4}{fig:<{w}}  {must:<15}{val}" for t, fig, must, val in rows]
    lines.append("")
    lines.append(f"{'part':<14}{'status':<9}{'seconds':>8}  modes (prefill/decode/attn) or reason")
    for name, e in result["parts"].items():
        detail = _modes(e.get("result")) if e["status"] == "ok" else (e.get("error") or e.get("reason") or "")
        lines.append(f"{name:<14}{e['status']:<9}{_f(e.get('seconds')):>8}  {detail}")
    skipped = [n for n, e in result["parts"].items()
               if e["status"] == "skipped" and e.get("reason", "").startswith(("budget", "needs part"))]
    if skipped:
        lines.append(f"skipped for time: run them later with  python bench/live8b.py --parts {' '.join(skipped)}")
    return "\n".join(lines)
