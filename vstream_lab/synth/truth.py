"""Ground truth of synthetic worlds as JSON-ready dicts: our full record and the Ego4D/GoalStep files.

- `ground_truth(world)`: everything (config, objects, events with intervals, tasks, distractors,
  needle + question, narration points) — the file evaluation tools read.
- `narration_json(worlds)`: Ego4D `narration.json` (official schema, docs/design/ego4d-data.md §2).
- `all_narrations_redacted(worlds)`: the file VideoLLM-online reads (§3, with `_map_errs`).
- `goalstep_json(worlds, split)`: GoalStep file (§6): one goal per video, one step per task, the
  pick/place events as substeps.
- `ego4d_metadata(worlds)`: `ego4d.json` (§1) so a builder finds fps/duration per video.
- `stream_dialogue(world, fps)`: a narration stream dialogue (train/dialogue.py format, VO §5 rules:
  ceil to the model-fps grid, cleaned text) — None when that module is not importable.

Imports: stdlib, synth.{script, world}; train.dialogue lazily.
"""
from __future__ import annotations

import math
import uuid
from dataclasses import asdict

from vstream_lab.synth.script import SynthConfig
from vstream_lab.synth.world import World

NAMESPACE = uuid.UUID("6f1d2c1e-5b7a-4c39-9a51-0c7e6b1f2a90")
SUMMARY = "#Summary C arranges objects on a table."
INSTRUCTION = ("Please concisely narrate the video in real time. Use the tag 'C' to denote the camera wearer, "
               "and other letter tags, such as 'X', to denote other individuals in the scene.")
DATE = "000000"


def video_uid(cfg: SynthConfig) -> str:
    """A stable UUID per config (same config → same uid)."""
    key = f"vstream-synth/{cfg.seed}/{cfg.duration}/{cfg.fps}/{cfg.width}x{cfg.height}/{cfg.n_objects}/" \
          f"{cfg.needle_at}/{cfg.needle_duration}/{cfg.idle[0]},{cfg.idle[1]}/{cfg.hover}"
    if cfg.rest:
        key += "/rest:" + ",".join(f"{int(i)}@{float(t):g}" for i, t in cfg.rest)
    return str(uuid.uuid5(NAMESPACE, key))


def config_dict(cfg: SynthConfig) -> dict:
    """The config as JSON; `rest` only when set, so the files of every world made without it stay byte-identical."""
    d = asdict(cfg)
    if not cfg.rest:
        d.pop("rest")
    return d


def clean_text(text: str) -> str:
    """Ego4D `#C C picks up …` → `C picks up ….` (the documented VO cleaning, for our simple texts)."""
    words = text.replace("#C", " ").replace("#", " ").strip(" .,\n").split()
    if not words:
        return ""
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def references(world: World) -> list[tuple[float, str]]:
    """Reference narrations (time, cleaned text) — what a narrator should say, and when."""
    return [(e.time, clean_text(e.text)) for e in world.script.events]


def ground_truth(world: World) -> dict:
    sc, cfg = world.script, world.cfg
    out = {
        "video_uid": video_uid(cfg),
        "config": config_dict(cfg),
        "num_frames": cfg.num_frames,
        "objects": [{"name": o.name, "colour": o.colour, "shape": o.shape, "rgb": list(o.rgb),
                     "initial": [sc.tracks[o.name][0].x, sc.tracks[o.name][0].y]}
                    for o in sc.objects],
        "events": [asdict(e) for e in sc.events],
        "tasks": [dict(asdict(t), events=list(t.events)) for t in sc.tasks],
        "distractors": [dict(asdict(d), params=list(d.params)) for d in sc.distractors],
        "narrations": [{"time": e.time, "text": e.text, "start": e.start, "end": e.end, "event": e.index}
                       for e in sc.events],
        "needle": None,
        "question": None,
    }
    if world.needle is not None:
        out["needle"] = asdict(world.needle)
        out["needle"]["rgb"] = list(world.needle.rgb)
        out["question"] = world.question.to_json()
    return out


def _pass_uid(uid: str, k: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{uid}/pass{k}"))


def narration_json(worlds) -> dict:
    out = {}
    for w in worlds:
        uid = video_uid(w.cfg)
        auid = _pass_uid(uid, 1)
        rows = [{"timestamp_sec": e.time, "timestamp_frame": int(round(e.time * w.cfg.fps)),
                 "_unmapped_timestamp_sec": e.time, "narration_text": e.text, "annotation_uid": auid}
                for e in w.script.events]
        out[uid] = {"narration_pass_1": {"narrations": rows, "summaries": [
            {"start_sec": 0.0, "end_sec": float(w.cfg.duration), "summary_text": SUMMARY, "annotation_uid": auid}]},
            "status": "complete"}
    return out


def all_narrations_redacted(worlds) -> dict:
    videos = {}
    for w in worlds:
        uid = video_uid(w.cfg)
        auid = _pass_uid(uid, 1)
        videos[uid] = {
            "narrations": [{"time": e.time, "text": e.text, "_annotation_uid": auid, "is_summary": False,
                            "annotator": "synth"} for e in w.script.events],
            "summaries": [{"start_time": 0.0, "end_time": float(w.cfg.duration), "text": SUMMARY}]}
    return {"videos": videos, "_map_errs": {}}


def _step(start, end, category, description, procedural, summary, substeps=None) -> dict:
    d = {"start_time": start, "end_time": end, "step_category": category, "step_description": description,
         "is_continued": False, "is_procedural": procedural, "is_relevant": "essential", "summary": summary}
    if substeps is not None:
        d["segments"] = substeps
    return d


def goalstep_video(world: World) -> dict:
    from vstream_lab.synth import catalog as C
    sc = world.script
    steps = []
    for t in sc.tasks:
        subs = [_step(sc.events[i].start, sc.events[i].end, C.SUBSTEP_CATEGORY[sc.events[i].kind],
                      clean_text(sc.events[i].text)[:-1].replace("C ", "", 1), False, []) for i in t.events]
        steps.append(_step(t.start, t.end, C.STEP_CATEGORY[t.kind], t.description, True,
                           [s["step_description"] for s in subs], subs))
    descs = [t.description for t in sc.tasks]
    goal = ", then ".join(d[0].lower() + d[1:] for d in descs)
    return {"video_uid": video_uid(world.cfg), "start_time": 0.0, "end_time": float(world.cfg.duration),
            "goal_category": C.GOAL_CATEGORY,
            "goal_description": (goal[0].upper() + goal[1:]) if goal else "Look at the objects on the table",
            "goal_wikihow_url": "", "summary": descs, "is_procedural": True, "segments": steps}


def goalstep_json(worlds, split: str = "train") -> dict:
    return {"version": "1.0", "date": DATE, "description": "vstream_ros synthetic tabletop worlds",
            "split": split, "videos": [goalstep_video(w) for w in worlds]}


def ego4d_metadata(worlds) -> dict:
    videos = []
    for w in worlds:
        c = w.cfg
        videos.append({"video_uid": video_uid(c), "duration_sec": float(c.num_frames / c.fps),
                       "video_metadata": {"fps": float(c.fps), "num_frames": c.num_frames, "video_start_sec": 0.0,
                                          "video_duration_sec": float(c.num_frames / c.fps),
                                          "mp4_duration_sec": float(c.num_frames / c.fps),
                                          "display_resolution_width": c.width, "display_resolution_height": c.height},
                       "split_em": None, "split_av": None, "split_fho": None,
                       "has_redacted_regions": False, "redacted_intervals": []})
    return {"date": DATE, "version": "synthetic", "description": "vstream_ros synthetic tabletop worlds",
            "videos": videos, "clips": [], "concurrent_video_sets": [], "physical_settings": []}


def stream_dialogue(world: World, fps: float = 2.0):
    """Narration dialogue at model `fps` (None when vstream_ros.train.dialogue is not importable).

    Grid rule (docs/design/ego4d-data.md §5): a narration at t is answered at frame k = ceil(t·fps); the first
    frame (index 0) is unlearned and followed by the instruction; a trailing stream learns silence to
    the end of the video.
    """
    try:
        from vstream_ros.train.dialogue import StreamDialogue
    except ImportError:
        return None
    n = int(math.floor(world.cfg.num_frames / world.cfg.fps * fps + 1e-9))   # model frames 0 … n-1
    conv = [{"role": "stream", "num_frames": 1, "learn": False}, {"role": "user", "content": INSTRUCTION}]
    last = 0
    for e in world.script.events:
        k = min(n - 1, int(math.ceil(e.time * fps - 1e-9)))
        text = clean_text(e.text)
        if k <= last:
            if conv[-1]["role"] == "assistant":
                conv[-1]["content"] = text       # same grid frame: the later narration wins (VO)
            continue
        conv += [{"role": "stream", "num_frames": k - last, "learn": True},
                 {"role": "assistant", "content": text, "learn": True}]
        last = k
    if n - 1 > last:
        conv.append({"role": "stream", "num_frames": n - 1 - last, "learn": True})
    uid = video_uid(world.cfg)
    return StreamDialogue(id=f"{uid}/narration", video_uid=uid, conversation=conv, start_frame=0, fps=float(fps),
                          text_variant="cleaned")
