"""Write synthetic worlds to disk: JSON/JSONL (atomic), video (PyAV), rosbag (replay.testbag, lazily).

`write_dataset(out_dir, configs, opts)` lays files out like the official Ego4D download so the
training-data builder reads synthetic data exactly like Ego4D:

    OUT/ego4d.json
    OUT/v2/annotations/narration.json, all_narrations_redacted.json, goalstep_<split>.json
    OUT/v2/full_scale/<video_uid>.mp4                 (--video)
    OUT/ground_truth/<video_uid>.json                 (our full record: events, tasks, needle, question)
    OUT/dialogues_<split>.jsonl                       (train/dialogue.py format, when importable)
    OUT/bags/<video_uid>/ or <video_uid>.bag          (--bag; Image or CompressedImage + reference narration)
    OUT/baselines/<video_uid>/<name>.jsonl            (--baselines; engine Response events)
    OUT/labels/<video_uid>.npz                        (--labels; per-frame labels at the dialogue fps)

Every file is written to a temporary name in the same folder and moved into place (os.replace).

Imports: stdlib, numpy, av (lazily), engine.yuv (lazily), synth.*, train.dialogue / replay.testbag (lazily).
"""
from __future__ import annotations

import platform
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable

from vstream_ros.atomic import atomic_path, write_json_atomic, write_jsonl_atomic
from vstream_lab.synth import truth
from vstream_ros.demo.baselines import make_baseline, to_responses
from vstream_lab.synth.labels import frame_labels, write_labels
from vstream_lab.synth.render import Renderer
from vstream_lab.synth.script import SynthConfig
from vstream_lab.synth.world import World

VIDEO_CODECS = ("libx264", "mpeg4")
BAG_STORAGES = ("mcap", "sqlite3", "ros1")
IMAGE_TOPIC = "/camera/image_raw"
NARRATION_TOPIC = "/ref/narration"     # replay.testbag default


class SynthError(RuntimeError):
    """A synthetic dataset cannot be written; the message says what to do."""


def write_json(path, obj) -> None:
    write_json_atomic(path, obj, indent=1)


def write_jsonl(path, rows: Iterable[dict]) -> None:
    write_jsonl_atomic(path, rows)


def pick_codec(codec: str | None = None) -> str:
    """The first encoder of `codec` or VIDEO_CODECS that the installed PyAV/FFmpeg provides."""
    import av
    for c in ([codec] if codec else VIDEO_CODECS):
        try:
            av.codec.Codec(c, "w")
            return c
        except Exception:   # noqa: BLE001 - PyAV raises several types for a missing encoder
            continue
    raise SynthError(f"no video encoder among {[codec] if codec else list(VIDEO_CODECS)} in this PyAV build")


# x264 chooses its kernels by the CPU's SIMD features, and they do not give the same bitstream (the same crf
# run with SSE2 and with AVX2 kernels writes different files that decode to different pixels): its portable C
# path ("asm=0") writes the same file on every machine. docs/reproducibility.md.
# On x86-64 the SSE2 kernels (present on every such CPU) give the C path's bitstream at near full speed; the
# SSSE3 and later kernels do not. test/lab/test_synth_reproducible.py checks both facts.
X264_CPU = "MMX2,SSE,SSE2" if platform.machine().lower() in ("x86_64", "amd64") else "0"
X264_OPTIONS = {"preset": "veryfast", "x264-params": f"asm={X264_CPU}"}


def write_video(path, frames: Iterable, fps: float, width: int, height: int, codec: str | None = None,
                crf: int = 20) -> int:
    """Encode (t, RGB) frames to an mp4 (frame i at pts i / fps); returns the number of frames.

    libx264 at `crf` on its C path, frames converted by engine/yuv.py: the same frames give the same file on
    every x86-64 machine. The mpeg4 fallback (a PyAV build without libx264) is not promised to.
    """
    import av
    from vstream_ros.engine.yuv import rgb_to_yuv420p
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    name = pick_codec(codec)
    rate = Fraction(fps).limit_denominator(1001)
    n = 0
    with atomic_path(path, suffix=".mp4") as tmp:
        with av.open(str(tmp), "w", format="mp4") as out:
            st = out.add_stream(name, rate=rate)
            st.width, st.height, st.pix_fmt = width, height, "yuv420p"
            st.codec_context.thread_count = 1
            if name == "libx264":
                st.options = {"crf": str(int(crf)), **X264_OPTIONS}
            else:
                st.bit_rate = 4_000_000
            for _, rgb in frames:
                vf = rgb_to_yuv420p(rgb)
                vf.pts = n
                vf.time_base = 1 / rate
                for pkt in st.encode(vf):
                    out.mux(pkt)
                n += 1
            for pkt in st.encode():
                out.mux(pkt)
    return n


def write_bag(path, world: World, renderer: Renderer, storage: str = "mcap", compressed: bool = False,
              topic: str = IMAGE_TOPIC, ref_topic: str = NARRATION_TOPIC) -> Path:
    """Rosbag of the rendered stream + the reference narration, via replay.testbag.write_image_bag."""
    if storage not in BAG_STORAGES:
        raise SynthError(f"bag storage must be one of {BAG_STORAGES}, got {storage!r}")
    try:
        from vstream_lab.testbag import write_image_bag
    except ImportError as e:
        raise SynthError(f"rosbag writing needs vstream_lab.testbag.write_image_bag, not available here ({e}); "
                         "write the video (--video) instead") from e
    refs = [(e.time, truth.clean_text(e.text)) for e in world.script.events]
    if compressed and not topic.endswith("/compressed"):
        topic += "/compressed"              # image_transport's name: what `compressed:=true` subscribes to
    try:
        return write_image_bag(path, renderer.frames(), topic=topic, compressed=compressed, storage=storage,
                        ref_narrations=refs, ref_topic=ref_topic)
    except TypeError as e:
        raise SynthError(f"replay.testbag.write_image_bag has an unexpected signature: {e}") from e


@dataclass(frozen=True)
class WriteOptions:
    video: bool = False
    codec: str | None = None
    bag: str | None = None            # None | mcap | sqlite3 | ros1
    compressed: bool = False
    baselines: bool = False
    labels: bool = False
    dialogue_fps: float = 2.0
    split: str = "train"

    def __post_init__(self):
        if self.bag is not None and self.bag not in BAG_STORAGES:
            raise ValueError(f"bag must be one of {BAG_STORAGES}, got {self.bag!r}")
        if not self.split or "/" in self.split:
            raise ValueError(f"split must be a plain name, got {self.split!r}")


def write_dataset(out_dir, configs: Iterable[SynthConfig], opts: WriteOptions = WriteOptions(), log=None) -> dict:
    """Generate every world of `configs` and write the files above; returns a summary dict."""
    out = Path(out_dir)
    worlds, notes = [], []
    ann = out / "v2" / "annotations"
    dialogues = []
    for cfg in configs:
        w = World(cfg)
        uid = truth.video_uid(cfg)
        worlds.append(w)
        r = Renderer(w)
        write_json(out / "ground_truth" / f"{uid}.json", truth.ground_truth(w))
        if opts.video:
            n = write_video(out / "v2" / "full_scale" / f"{uid}.mp4", r.frames(), cfg.fps, cfg.width, cfg.height,
                            opts.codec)
            if n != cfg.num_frames:
                raise SynthError(f"{uid}: wrote {n} frames, expected {cfg.num_frames}")
        if opts.bag:
            write_bag(out / "bags" / (uid + ".bag" if opts.bag == "ros1" else uid), w, r, opts.bag, opts.compressed)
        if opts.baselines:
            for name in ("silent", "interval", "change"):
                utts = make_baseline(name).run(r.frames())
                write_jsonl(out / "baselines" / uid / f"{name}.jsonl",
                            (x.to_json() for x in to_responses(utts, cfg.fps)))
        if opts.labels:
            write_labels(out / "labels" / f"{uid}.npz", frame_labels(w, opts.dialogue_fps))
        d = truth.stream_dialogue(w, opts.dialogue_fps)
        if d is not None:
            dialogues.append(d)
        if log:
            needle = f", needle {w.needle.name} at {w.needle.start:g}s" if w.needle else ""
            log(f"{uid}: seed {cfg.seed}, {cfg.num_frames} frames, {len(w.script.events)} events, "
                f"{len(w.script.tasks)} tasks{needle}")
    if not worlds:
        raise SynthError("no world to write (num videos must be >= 1)")
    write_json(out / "ego4d.json", truth.ego4d_metadata(worlds))
    write_json(ann / "narration.json", truth.narration_json(worlds))
    write_json(ann / "all_narrations_redacted.json", truth.all_narrations_redacted(worlds))
    write_json(ann / f"goalstep_{opts.split}.json", truth.goalstep_json(worlds, opts.split))
    if dialogues:
        write_jsonl(out / f"dialogues_{opts.split}.jsonl", (d.to_json() for d in dialogues))
    else:
        notes.append("vstream_ros.train.dialogue not importable: no dialogues JSONL written")
    return {"videos": [truth.video_uid(w.cfg) for w in worlds], "events": sum(len(w.script.events) for w in worlds),
            "notes": notes}
