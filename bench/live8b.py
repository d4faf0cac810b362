"""GPU figures of the product path in one command: Llama-3-8B + SigLIP-L/16-384 shapes with random weights through the
stream host users run (runtime backend, default bounded memory), P1–P6 of docs/design/performance.md, compiled vs
eager, int8 / int4, and several streams when the multi-stream scheduler exists.

    python bench/live8b.py                        # H100/H200, about 7–8 min; bench/out/live8b.json + a summary table
    python bench/live8b.py --parts int8 streams   # only these parts (and the parts they need)
    python bench/live8b.py --layers 1 --small --budget-s 0    # CPU dry run of the same code path (plumbing only)
    python bench/live8b.py --preset tiny --small --budget-s 0 # the tiny test model: seconds (test/runtime)

The parts and what each measures: bench/live8b_parts.py. They run in order; each one that fails prints its error
and the rest still run (a part that needs a failed one is skipped with the reason). `--budget-s` is the time the
whole run may take: a part whose H100 estimate (live8b_parts.ESTIMATE_S) no longer fits is skipped and listed,
with the command that runs it later; frame loops stop at their cap. The JSON is rewritten after every part, so a
run killed by its timeout still leaves the parts it finished.

Imports: argparse at import time; torch and vstream_ros inside main(). Never ROS, never the lab.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):                      # this checkout's vstream_ros, then the live8b_* modules
    if p not in sys.path:
        sys.path.insert(0, p)
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

DEFAULT_OUT = "bench/out/live8b.json"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench/live8b.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=("live-8b", "tiny"), default="live-8b")
    p.add_argument("--layers", type=int, default=None,
                   help="live-8b: keep every width but only N decoder / encoder layers (CPU dry run)")
    p.add_argument("--parts", nargs="+", default=["all"], metavar="PART",
                   help="parts to run (default all): see bench/live8b_parts.py")
    p.add_argument("--budget-s", type=float, default=450.0,
                   help="seconds the whole run may take; parts that no longer fit are skipped (0: no budget)")
    p.add_argument("--small", action="store_true", help="a few frames per part (CPU dry run, tests)")
    p.add_argument("--utterance-tokens", type=int, default=20, help="forced reply length (default 20)")
    p.add_argument("--respond-every", type=int, default=10, help="about one frame in N speaks (default 10)")
    p.add_argument("--json", dest="json_path", default=DEFAULT_OUT, help=f"result file (default {DEFAULT_OUT})")
    return p


class Context:
    """What the parts share: arguments, sizes, the model and backend built so far, the clock."""

    def __init__(self, args, sizes, budget_s: float, out_dir: str):
        self.args, self.sizes, self.out_dir = args, sizes, out_dir
        self.start = time.perf_counter()
        self.deadline = self.start + budget_s if budget_s > 0 else None
        self.live = self.backend = self.pool = self.quantized = None

    def left(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - time.perf_counter()

    def cap(self, seconds: float) -> float:
        """A frame loop's cap: its own, or what is left of the budget (keeping 10 s to drain and write)."""
        return max(1.0, min(seconds, self.left() - 10.0))


def _one_line(e: BaseException) -> str:
    return f"{type(e).__name__}: " + " ".join(str(e).split())[:300]


def _git_commit() -> str:
    if os.environ.get("VSTREAM_COMMIT"):
        return os.environ["VSTREAM_COMMIT"]
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment() -> dict:
    import torch
    import transformers
    env = {"date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
           "commit": _git_commit(), "command": " ".join([os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]]),
           "python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
           "transformers": transformers.__version__, "machine": platform.machine(),
           "cpu_threads": torch.get_num_threads()}
    try:
        import torchao
        env["torchao"] = torchao.__version__
    except Exception:  # noqa: BLE001 - absent or broken: the int parts say so
        env["torchao"] = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env.update(device=torch.cuda.get_device_name(0), gpu_memory_bytes=props.total_memory,
                   capability=f"{props.major}.{props.minor}")
    else:
        env["device"] = f"CPU {platform.processor() or platform.machine()}"
    return env


def selected_parts(names: list[str]) -> list[str]:
    """The chosen parts plus what they need, in run order. ValueError names an unknown part."""
    from live8b_parts import NEEDS, PARTS
    if "all" in names:
        return list(PARTS)
    bad = [n for n in names if n not in PARTS]
    if bad:
        raise ValueError(f"unknown part {', '.join(bad)}: choose from all, {', '.join(PARTS)}")
    want = set(names)
    for n in names:
        while n in NEEDS:
            n = NEEDS[n]
            want.add(n)
    return [n for n in PARTS if n in want]


def run_parts(ctx, names: list[str], result: dict, save) -> None:
    from live8b_parts import ESTIMATE_S, NEEDS, PARTS
    for name in names:
        entry = {"status": "ok"}
        need = NEEDS.get(name)
        if need and result["parts"].get(need, {}).get("status") != "ok":
            entry = {"status": "skipped", "reason": f"needs part {need}, which did not run"}
        elif ctx.left() < ESTIMATE_S[name]:
            entry = {"status": "skipped", "reason": f"budget: {max(0.0, ctx.left()):.0f} s left, part needs "
                                                      f"about {ESTIMATE_S[name]} s"}
        if entry["status"] == "ok":
            print(f"[live8b] {name} ... ({ctx.left():.0f} s of budget left)" if ctx.deadline else
                  f"[live8b] {name} ...", file=sys.stderr, flush=True)
            t = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    out = PARTS[name](ctx)
                    if "skipped" in out:
                        entry = {"status": "skipped", "reason": out["skipped"]}
                    else:
                        entry["result"] = out
                except Exception as e:  # noqa: BLE001 - one part's failure must not stop the rest
                    entry = {"status": "error", "error": _one_line(e),
                             "traceback": traceback.format_exc(limit=8).splitlines()[-12:]}
                    _recover()
                except KeyboardInterrupt:               # Ctrl-C or the wrapper's timeout: keep what this part was
                    result["parts"][name] = {"status": "error", "error": "interrupted (timeout or Ctrl-C)",
                                             "seconds": round(time.perf_counter() - t, 2)}
                    raise
            entry["seconds"] = round(time.perf_counter() - t, 2)
            entry["warnings"] = sorted({_one_line(w.message)[:200] for w in caught
                                        if "compile" in str(w.message) or "capture" in str(w.message)
                                        or "eager" in str(w.message)})[:8]
        result["parts"][name] = entry
        print(f"[live8b] {name}: {entry['status']}" + (f" ({entry['seconds']:.1f} s)" if "seconds" in entry else "")
              + (f": {entry.get('error') or entry.get('reason')}" if entry["status"] != "ok" else ""),
              file=sys.stderr, flush=True)
        save()


def _recover() -> None:
    """After a failed part (e.g. out of memory): free what can be freed so the next part may still run."""
    try:
        import live8b_runs
        live8b_runs.free_cuda()
    except Exception:  # noqa: BLE001 - a dead CUDA context: the next parts will say so themselves
        pass


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        names = selected_parts(args.parts)
        if args.utterance_tokens < 1 or args.respond_every < 1:
            raise ValueError("--utterance-tokens and --respond-every must be >= 1")
        if args.layers is not None and args.preset != "live-8b":
            raise ValueError("--layers applies to --preset live-8b only")
    except ValueError as e:
        print(f"bench/live8b.py: error: {e}", file=sys.stderr)
        return 2
    import torch

    from live8b_parts import ESTIMATE_S, Sizes
    from live8b_report import format_summary
    from vstream_ros.bench.cli_bench import _write_json
    if args.preset == "live-8b" and args.layers is None and not torch.cuda.is_available():
        print("bench/live8b.py: skipped: the full live-8b preset needs a CUDA GPU (Llama-3-8B in bf16 is 16 GB); "
              "check the same code path on a CPU with --layers 1 --small --budget-s 0", file=sys.stderr)
        return 0
    out_dir = os.path.dirname(os.path.abspath(args.json_path))
    os.makedirs(out_dir, exist_ok=True)
    sizes = Sizes.small() if args.small else Sizes()
    ctx = Context(args, sizes, args.budget_s, out_dir)
    result = {"environment": environment(), "args": vars(args), "sizes": sizes.__dict__,
              "estimate_s": {n: ESTIMATE_S[n] for n in names}, "parts": {}}
    save = lambda: _write_json(args.json_path, result)  # noqa: E731 - NaN → null, atomic
    print(f"[live8b] {result['environment']['device']}, torch {torch.__version__}, parts: {' '.join(names)}; "
          f"H100 estimate {sum(ESTIMATE_S[n] for n in names)} s, budget "
          + (f"{args.budget_s:.0f} s" if args.budget_s > 0 else "none"), file=sys.stderr, flush=True)
    try:
        run_parts(ctx, names, result, save)
    except KeyboardInterrupt:
        print("[live8b] interrupted: writing the parts done so far", file=sys.stderr)
        result["interrupted"] = True
    result["total_s"] = round(time.perf_counter() - ctx.start, 1)
    save()
    print(format_summary(result))
    print(f"wrote {args.json_path}")
    return 130 if result.get("interrupted") else 0


if __name__ == "__main__":
    sys.exit(main())
