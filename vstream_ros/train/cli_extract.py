"""`vstream extract-features VIDEOS --out DIR [--fps 2] [--vision ID] [--batch N] [--workers N]`.

Decodes each video on `--workers` threads (PyAV releases the GIL), encodes the frames on the fps grid with
the SigLIP tower in the main thread, and writes DIR/<video_uid>.safetensors (bf16 [T, 10, D]) atomically plus
DIR/manifest.json. Resumable: videos whose feature file is already there are skipped. Unreadable videos are
reported on one line each and counted; the exit code is 1 when any failed.

Imports: train.features and engine modules (lazily). Never ROS, never the LLM.
"""
from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

VIDEO_EXTS = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v")


def register(subparsers) -> None:
    from vstream_ros.engine.config import DEFAULT_VISION  # noqa: PLC0415
    p = subparsers.add_parser("extract-features", help="pre-extract SigLIP frame tokens for training",
                              description=__doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("videos", nargs="+", help="video files or folders (searched for *.mp4, *.mkv, *.webm, …)")
    p.add_argument("--out", required=True, help="feature folder (created; reused to resume)")
    p.add_argument("--fps", type=float, default=2.0, help="model fps (default 2, as the published model)")
    p.add_argument("--vision", default=DEFAULT_VISION, help="SigLIP hub id or folder (default %(default)s)")
    p.add_argument("--batch", type=int, default=32, help="frames per vision forward (default 32)")
    p.add_argument("--workers", type=int, default=2, help="decoding threads (default 2)")
    p.add_argument("--device", default="auto", help="auto|cpu|cuda|cuda:N")
    p.add_argument("--frame-size", type=int, default=384, help="letterbox side (default 384)")
    p.add_argument("--shard", default="0/1", metavar="K/N",
                   help="process only videos K, K+N, K+2N… of the sorted list (one process per GPU; default 0/1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=main)


def list_videos(items) -> list[Path]:
    out = []
    for it in items:
        p = Path(it)
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.suffix.lower() in VIDEO_EXTS and q.is_file())
        else:
            out.append(p)
    return out


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.5)
            return True
        except queue.Full:
            continue
    return False


def _decode(path: Path, args, q: queue.Queue, stop: threading.Event) -> None:
    """Decoder thread: (slots, uint8 batch) items, then ("done", stats) or ("error", exception)."""
    from vstream_ros.train.features import ExtractStats, iter_grid_batches  # noqa: PLC0415
    stats = ExtractStats()
    try:
        for item in iter_grid_batches(path, args.fps, args.frame_size, args.batch, stats):
            if not _put(q, ("batch", path, item), stop):
                return                                   # the main thread gave up (Ctrl-C / error)
        _put(q, ("done", path, stats), stop)
    except Exception as e:  # noqa: BLE001 - reported per video by the main thread
        _put(q, ("error", path, e), stop)


def _check_args(args, videos: list[Path]) -> str | None:
    """One-line usage error, or None; also applies --shard (returns the error text)."""
    if args.batch < 1 or args.workers < 1 or not args.fps > 0:
        return "--batch and --workers must be >= 1 and --fps > 0"
    missing = [v for v in videos if not v.is_file()]
    if missing:
        return f"{len(missing)} video path(s) not found (first: {missing[0]})"
    if not videos:
        return "no video found in the given paths"
    stems = [v.stem for v in videos]
    if len(set(stems)) != len(stems):
        return "two videos share a file name (video_uid); pass them to separate --out folders"
    return None


def _shard(spec: str, videos: list[Path]) -> list[Path]:
    k, n = (int(x) for x in spec.split("/"))
    if not 0 <= k < n:
        raise ValueError(spec)
    return sorted(videos, key=lambda v: v.stem)[k::n]


def main(args) -> int:
    import torch  # noqa: PLC0415

    from vstream_ros.engine.config import resolve_device  # noqa: PLC0415
    from vstream_ros.engine.vision import load_vision  # noqa: PLC0415
    from vstream_ros.train.features import (  # noqa: PLC0415
        FORMAT,
        TOKEN_LAYOUT,
        FeatureError,
        read_manifest,
        write_manifest,
    )

    out = Path(args.out)
    videos = list_videos(args.videos)
    err = _check_args(args, videos)
    if err is None:
        try:
            videos = _shard(getattr(args, "shard", "0/1"), videos)
        except ValueError:
            err = f"--shard must be K/N with 0 <= K < N, got {args.shard!r}"
    if err is None:
        try:
            out.mkdir(parents=True, exist_ok=True)
            manifest = read_manifest(out)
        except (FeatureError, OSError) as e:
            err = str(e)
    if err is None:
        want = {"format": FORMAT, "fps": args.fps, "encoder": args.vision, "frame_size": args.frame_size}
        clash = {k: manifest[k] for k in want if k in manifest and manifest[k] != want[k]}
        if clash:
            err = f"{out} holds features made with {clash}, not {want}: use another --out"
    if err is not None:
        print(f"error: {err}", file=sys.stderr)
        return 2
    device = resolve_device(args.device)
    vision = load_vision(args.vision, device=device, dtype=torch.bfloat16 if device.startswith("cuda") else torch.float32)
    manifest.update(want, tokens_per_frame=10, token_layout=TOKEN_LAYOUT, hidden_size=vision.hidden_size,
                    dtype="bfloat16")
    manifest.setdefault("videos", {})
    todo = [v for v in videos if not (out / f"{v.stem}.safetensors").is_file()]
    skipped = len(videos) - len(todo)
    failed: dict[str, str] = {}
    bar = None
    if not args.no_progress:
        from tqdm import tqdm  # noqa: PLC0415
        bar = tqdm(total=len(videos), initial=skipped, unit="video", desc="extract")
    q: queue.Queue = queue.Queue(maxsize=4 * args.workers)
    stop = threading.Event()
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        for v in todo:
            pool.submit(_decode, v, args, q, stop)
        try:
            _consume(q, todo, vision, args, out, manifest, failed, bar)
        finally:
            stop.set()                                   # lets blocked decoders exit (e.g. on Ctrl-C)
    if bar:
        bar.close()
    write_manifest(out, manifest)
    print(f"extract-features: {len(todo) - len(failed)} extracted, {skipped} already done, {len(failed)} failed "
          f"in {time.time() - t0:.1f}s -> {out}")
    return 1 if failed else 0


def _consume(q: queue.Queue, todo: list[Path], vision, args, out: Path, manifest: dict, failed: dict, bar) -> None:
    """Main thread: encode batches as they arrive (only tokens are kept), save each finished video."""
    import torch  # noqa: PLC0415

    from vstream_ros.train.features import (  # noqa: PLC0415
        FeatureError,
        assemble_grid,
        encode_batch,
        save_features,
        write_manifest,
    )

    pending: dict[Path, list] = {v: [] for v in todo}
    left = len(todo)
    while left:
        kind, path, item = q.get()
        if kind == "batch":
            try:
                slots, u8 = item
                pending[path].append((slots, encode_batch(vision, u8)))
            except Exception as e:  # noqa: BLE001 - reported when the video finishes
                pending[path].append(e)
            continue
        left -= 1
        parts = pending.pop(path)
        try:
            if kind == "error":
                raise item
            for part in parts:
                if isinstance(part, Exception):
                    raise part
            if not parts:
                raise FeatureError(f"no frame on the {args.fps} fps grid")
            frames = assemble_grid([s for p, _ in parts for s in p], torch.cat([t for _, t in parts]), item)
            save_features(out / f"{path.stem}.safetensors", frames,
                          {"fps": args.fps, "encoder": args.vision, "source": str(path)})
            manifest["videos"][path.stem] = {"frames": int(frames.shape[0]), "file": f"{path.stem}.safetensors",
                                             "source": str(path), "filled": item.filled, "corrupt": item.corrupt}
            write_manifest(out, manifest)
        except Exception as e:  # noqa: BLE001 - one line per bad video, the run continues
            failed[str(path)] = " ".join(str(e).split())[:200] or type(e).__name__
            print(f"skip {path}: {failed[str(path)]}", file=sys.stderr)
        if bar:
            bar.update(1)
