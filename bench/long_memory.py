"""Quality and memory of one model over a long stream, per memory setting: timing F1 whole and per window, and the
process's resident memory (RSS) against stream time (bench/RESULTS.md "Demo model on long held-out streams").

    python bench/long_memory.py --video s3600/v2/full_scale/UID.mp4 --ref s3600/v2/annotations/narration.json \
        --model models/demo --out bench/out/long --run default= \
        --run keyframes="--memory-policy keyframes" --run recent60="--memory-policy recent --memory-recent-frames 60"

Each `--run NAME=OPTIONS` is one `vstream run VIDEO --model M --events-jsonl OUT/NAME.jsonl OPTIONS` subprocess
(the product path, nothing special-cased). While it runs, every 2 s: the child's VmRSS and the newest frame time
in its events file (flushed line by line), so RSS is known per stream minute. Then `vstream eval --tolerance 1
--json` (10-minute windows on streams over 20 minutes, or --window-minutes). Writes OUT/NAME.{jsonl,eval.json,
rss.json} and OUT/summary.json, and prints a markdown table: F1, P/R, per-window F1, RSS at 10-minute marks,
the RSS spread between minutes 20 and 60 ((max − min) / min, while frames are fed: not the shutdown), wall time.

Imports: stdlib only (the product runs in subprocesses). Never ROS.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class EventTail:
    """The newest frame time in a growing events JSONL (reads only what was appended)."""

    def __init__(self, path: Path):
        self.path, self.pos, self.buf, self.t = path, 0, b"", None

    def poll(self) -> float | None:
        try:
            with self.path.open("rb") as f:
                f.seek(self.pos)
                data = f.read()
        except OSError:
            return self.t
        self.pos += len(data)
        *lines, self.buf = (self.buf + data).split(b"\n")
        for line in lines:
            if b'"event": "frame"' in line:
                try:
                    self.t = float(json.loads(line)["time"])
                except (ValueError, KeyError):
                    pass
        return self.t


def run_one(name: str, options: str, args, out: Path) -> dict:
    events = out / f"{name}.jsonl"
    events.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "vstream_ros.cli", "run", args.video, "--model", args.model,
           "--events-jsonl", str(events), "--no-progress", *shlex.split(options)]
    print("$", " ".join(cmd[2:]), flush=True)
    t0 = time.time()
    log = (out / f"{name}.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    tail, samples = EventTail(events), []
    while proc.poll() is None:
        time.sleep(2.0)
        kib, t = rss_kib(proc.pid), tail.poll()
        if kib is not None and t is not None:
            samples.append({"wall": round(time.time() - t0, 1), "stream_t": t, "rss_mib": round(kib / 1024, 1)})
    log.close()
    wall = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{name}: vstream run exited {proc.returncode} (see {out / (name + '.log')})")
    (out / f"{name}.rss.json").write_text(json.dumps(samples))
    ev_json = out / f"{name}.eval.json"
    ecmd = [sys.executable, "-m", "vstream_ros.cli", "eval", "--pred", str(events), "--ref", args.ref,
            "--tolerance", "1", "--json", str(ev_json)]
    if args.video_uid:
        ecmd += ["--video-uid", args.video_uid]
    if args.window_minutes:
        ecmd += ["--window-minutes", str(args.window_minutes)]
    subprocess.run(ecmd, check=True, stdout=subprocess.DEVNULL)
    return {"name": name, "options": options, "wall_s": round(wall, 1), "eval": json.loads(ev_json.read_text()),
            "rss": samples}


def rss_at(samples: list[dict], minute: float) -> float | None:
    """RSS of the first sample at or after `minute` of stream time."""
    for s in samples:
        if s["stream_t"] >= minute * 60:
            return s["rss_mib"]
    return None


def summarize(r: dict) -> dict:
    ev = r["eval"]
    m = ev.get("metrics", ev)
    rows = (ev.get("windows") or {}).get("rows") or []
    running = [s for s in r["rss"] if r["rss"] and s["stream_t"] < r["rss"][-1]["stream_t"]]   # not the shutdown
    late = [s["rss_mib"] for s in running if 20 * 60 <= s["stream_t"] <= 60 * 60]
    last = r["rss"][-1]["stream_t"] / 60 if r["rss"] else 0
    marks = {m_: rss_at(r["rss"], m_) for m_ in (1, 10, 20, 30, 40, 50, 59) if m_ <= last}
    return {"name": r["name"], "options": r["options"], "f1": m.get("f1"), "precision": m.get("precision"),
            "recall": m.get("recall"), "rouge_l": m.get("rouge_l"), "windows": [round(w["f1"], 3) for w in rows],
            "rss_mib_at_minute": marks, "rss_peak_mib": max((s["rss_mib"] for s in r["rss"]), default=None),
            "rss_spread_20_60": (round((max(late) - min(late)) / min(late), 4) if len(late) > 1 else None),
            "wall_s": r["wall_s"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--video", required=True)
    p.add_argument("--ref", required=True, help="narration.json of the stream (vstream-lab synth writes it)")
    p.add_argument("--video-uid", default=None, help="default: the video file's stem")
    p.add_argument("--model", default="demo")
    p.add_argument("--out", required=True)
    p.add_argument("--window-minutes", type=float, default=None)
    p.add_argument("--run", action="append", required=True, metavar="NAME=OPTIONS",
                   help="one memory setting: a name and the `vstream run` options (repeat)")
    p.add_argument("--summarize-only", action="store_true",
                   help="do not run: rebuild the table from OUT/NAME.{eval,rss}.json of an earlier run")
    args = p.parse_args(argv)
    args.video_uid = args.video_uid or Path(args.video).stem
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    earlier = ({x["name"]: x for x in json.loads((out / "summary.json").read_text())}
               if args.summarize_only and (out / "summary.json").is_file() else {})
    for spec in args.run:
        name, _, options = spec.partition("=")
        if not name or "/" in name:
            p.error(f"--run {spec!r}: give NAME=OPTIONS")
        if args.summarize_only:
            done = {"name": name, "options": options, "wall_s": float("nan"),
                    "eval": json.loads((out / f"{name}.eval.json").read_text()),
                    "rss": json.loads((out / f"{name}.rss.json").read_text())}
            done["wall_s"] = earlier.get(name, {}).get("wall_s", float("nan"))
            rows.append(summarize(done))
        else:
            rows.append(summarize(run_one(name, options, args, out)))
        (out / "summary.json").write_text(json.dumps(rows, indent=1))
    print("| run | options | F1 | P / R | ROUGE-L | F1 per window | RSS MiB at min " + " / ".join(
        str(k) for k in rows[0]["rss_mib_at_minute"]) + " | RSS spread 20–60 | wall s |")
    print("|---" * 9 + "|")
    for r in rows:
        spread = "–" if r["rss_spread_20_60"] is None else f"{100 * r['rss_spread_20_60']:.1f} %"
        print(f"| {r['name']} | `{r['options'] or '(none)'}` | {r['f1']:.3f} | {r['precision']:.3f} / "
              f"{r['recall']:.3f} | {r['rouge_l'] or 0:.3f} | {' '.join(f'{w:.2f}' for w in r['windows'])} | "
              f"{' / '.join(f'{v:.0f}' for v in r['rss_mib_at_minute'].values() if v is not None)} | {spread} | "
              f"{r['wall_s']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
