"""Writers: Ego4D / GoalStep files follow the official schemas and are read back by the team's readers;
the video decodes to the right frames; dialogues and bags re-read."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vstream_lab.synth.render import Renderer
from vstream_lab.synth.script import SynthConfig
from vstream_lab.synth.truth import clean_text, video_uid
from vstream_lab.synth.world import World
from vstream_lab.synth.writers import WriteOptions, write_dataset

NUM = (int, float)


def _cfgs():
    return [SynthConfig(seed=s, duration=30.0, fps=5.0, needle_at=10.0 if s == 1 else None) for s in (0, 1)]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    summary = write_dataset(out, _cfgs(), WriteOptions(video=True, baselines=True, split="val"))
    return out, summary


def _load(p: Path):
    return json.loads(p.read_text(encoding="utf-8"))


def test_layout(dataset):
    out, summary = dataset
    uids = [video_uid(c) for c in _cfgs()]
    assert summary["videos"] == uids
    for rel in ["ego4d.json", "v2/annotations/narration.json", "v2/annotations/all_narrations_redacted.json",
                "v2/annotations/goalstep_val.json", "dialogues_val.jsonl"]:
        assert (out / rel).is_file(), rel
    for u in uids:
        assert (out / "v2/full_scale" / f"{u}.mp4").is_file()
        assert (out / "ground_truth" / f"{u}.json").is_file()
        for b in ("silent", "interval", "change"):
            assert (out / "baselines" / u / f"{b}.jsonl").is_file()
    assert not list(out.rglob("*.tmp")), "no temporary file left behind"


def test_narration_json_schema(dataset):
    out, _ = dataset
    data = _load(out / "v2/annotations/narration.json")
    assert set(data) == {video_uid(c) for c in _cfgs()}
    for uid, v in data.items():
        assert isinstance(v["status"], str)
        p = v["narration_pass_1"]
        for n in p["narrations"]:
            assert set(n) == {"timestamp_sec", "timestamp_frame", "_unmapped_timestamp_sec", "narration_text",
                              "annotation_uid"}
            assert isinstance(n["timestamp_sec"], NUM) and isinstance(n["timestamp_frame"], int)
            assert n["timestamp_frame"] == round(n["timestamp_sec"] * 5.0)
            assert n["narration_text"].startswith("#C C ") and isinstance(n["annotation_uid"], str)
        for s in p["summaries"]:
            assert set(s) == {"start_sec", "end_sec", "summary_text", "annotation_uid"}
            assert s["summary_text"].lower().startswith("#summary")
    gt = _load(out / "ground_truth" / f"{video_uid(_cfgs()[0])}.json")
    first = data[video_uid(_cfgs()[0])]["narration_pass_1"]["narrations"]
    assert [(n["timestamp_sec"], n["narration_text"]) for n in first] == [(e["time"], e["text"]) for e in gt["events"]]


def test_all_narrations_redacted_schema_and_team_reader(dataset):
    out, _ = dataset
    path = out / "v2/annotations/all_narrations_redacted.json"
    data = _load(path)
    assert set(data) == {"videos", "_map_errs"}
    for v in data["videos"].values():
        for n in v["narrations"]:
            assert isinstance(n["time"], NUM) and isinstance(n["text"], str) and isinstance(n["_annotation_uid"], str)
    refs = pytest.importorskip("vstream_ros.replay.references")
    uid = video_uid(_cfgs()[0])
    got = refs.refs_from_ego4d(path, uid)
    gt = _load(out / "ground_truth" / f"{uid}.json")
    assert [(u.t, u.text) for u in got] == [(e["time"], clean_text(e["text"])) for e in gt["events"]]
    got2 = refs.refs_from_ego4d(out / "v2/annotations/narration.json", uid)
    assert [(u.t, u.text) for u in got2] == [(u.t, u.text) for u in got]


def _check_step(s, parent, sub):
    keys = {"start_time", "end_time", "step_category", "step_description", "is_continued", "is_procedural",
            "is_relevant", "summary"}
    assert keys <= set(s) and isinstance(s["summary"], list)
    assert s["is_relevant"] in ("essential", "optional", "irrelevant")
    assert parent["start_time"] <= s["start_time"] < s["end_time"] <= parent["end_time"]
    assert ("segments" in s) != sub


def test_goalstep_schema_and_nesting(dataset):
    out, _ = dataset
    data = _load(out / "v2/annotations/goalstep_val.json")
    assert {"version", "date", "split", "videos"} <= set(data) and data["split"] == "val"
    for g in data["videos"]:
        assert {"video_uid", "start_time", "end_time", "goal_category", "goal_description", "goal_wikihow_url",
                "summary", "is_procedural", "segments"} <= set(g)
        assert g["segments"], "every world has at least one task"
        prev_end = 0.0
        for s in g["segments"]:
            _check_step(s, g, sub=False)
            assert s["start_time"] >= prev_end
            prev_end = s["end_time"]
            assert len(s["segments"]) == 2
            for ss in s["segments"]:
                _check_step(ss, s, sub=True)
        assert g["goal_description"].lower().startswith(g["segments"][0]["step_description"].lower())


def test_ego4d_metadata(dataset):
    out, _ = dataset
    v = _load(out / "ego4d.json")["videos"][0]
    assert v["video_metadata"]["fps"] == 5.0 and v["video_metadata"]["num_frames"] == 150
    assert v["duration_sec"] == 30.0


def test_video_decodes_to_the_rendered_frames(dataset):
    av = pytest.importorskip("av")
    out, _ = dataset
    cfg = _cfgs()[0]
    r = Renderer(World(cfg))
    with av.open(str(out / "v2/full_scale" / f"{video_uid(cfg)}.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        rate = c.streams.video[0].average_rate
    assert len(frames) == cfg.num_frames and float(rate) == pytest.approx(cfg.fps)
    assert frames[0].shape == (cfg.height, cfg.width, 3)
    for i in (0, 70, 149):
        err = np.abs(frames[i].astype(int) - r.frame(i).astype(int)).mean()
        assert err < 6.0, f"frame {i}: mean abs error {err:.1f} after encoding"


def test_dialogues_read_back(dataset):
    dia = pytest.importorskip("vstream_ros.train.dialogue")
    out, _ = dataset
    ds, skipped = dia.read_dialogues(str(out / "dialogues_val.jsonl"))
    assert not skipped and len(ds) == 2
    cfg = _cfgs()[0]
    d = ds[0]
    assert d.video_uid == video_uid(cfg) and d.fps == 2.0 and d.start_frame == 0
    assert d.num_frames == int(cfg.duration * 2)
    w = World(cfg)
    texts = [m["content"] for m in d.conversation if m["role"] == "assistant"]
    assert texts == [clean_text(e.text) for e in w.script.events]
    # every assistant turn comes at the first 2-fps frame at or after its narration time
    frame = -1
    evs = iter(w.script.events)
    for m in d.conversation:
        if m["role"] == "stream":
            frame += m["num_frames"]
        elif m["role"] == "assistant":
            t = next(evs).time
            assert frame / 2.0 >= t - 1e-9 and (frame - 1) / 2.0 < t


def test_team_narration_builder_reads_our_files(dataset):
    nb = pytest.importorskip("vstream_ros.train.ego4d_narration")
    out, _ = dataset
    data = _load(out / "v2/annotations/all_narrations_redacted.json")
    uid = video_uid(_cfgs()[0])
    ds, _ = nb.build_narration_dialogues(data, {uid: 60}, fps=2.0, uids={uid})
    w = World(_cfgs()[0])
    assert [m["content"] for m in ds[0].conversation if m["role"] == "assistant"] == \
        [clean_text(e.text) for e in w.script.events]


def test_bag_roundtrip(tmp_path):
    pytest.importorskip("vstream_lab.testbag")
    from vstream_ros.replay.bagio import iter_images, list_topics, read_texts
    cfg = SynthConfig(seed=3, duration=12.0, fps=5.0)
    write_dataset(tmp_path, [cfg], WriteOptions(bag="mcap", compressed=True))
    bag = tmp_path / "bags" / video_uid(cfg)
    topics = list_topics(bag)
    assert topics["/camera/image_raw/compressed"] == "sensor_msgs/msg/CompressedImage"   # image_transport's name
    assert "/camera/image_raw" not in topics
    assert sum(1 for _ in iter_images(bag)) == cfg.num_frames
    texts = read_texts(bag, "/ref/narration")
    w = World(cfg)
    assert [(round(ns / 1e9, 3), tx) for ns, tx, _ in texts] == [(e.time, clean_text(e.text)) for e in w.script.events]


def test_labels_match_the_truth(tmp_path):
    from vstream_lab.synth.labels import COLOUR_NAMES, EVENT_CLASSES
    cfg = SynthConfig(seed=2, duration=30.0, fps=5.0, needle_at=8.0)
    write_dataset(tmp_path, [cfg], WriteOptions(labels=True, dialogue_fps=2.0))
    lab = np.load(tmp_path / "labels" / f"{video_uid(cfg)}.npz")
    w = World(cfg)
    assert lab["time"].shape == (60,) and lab["in_view"].shape == (60, len(COLOUR_NAMES))
    for k, t in enumerate(lab["time"]):
        e = w.active_event(float(t))
        assert EVENT_CLASSES[lab["event"][k]] == (e.kind if e else "none")
        if e:
            assert COLOUR_NAMES[lab["event_colour"][k]] == w.script.object(e.obj).colour
        held = [p.spec.colour for p in w.objects_at(float(t)) if p.held]
        assert (COLOUR_NAMES[lab["held"][k]] if lab["held"][k] >= 0 else None) == (held[0] if held else None)
    assert lab["needle"].sum() == 8 and lab["needle"][16:24].all()
    assert (lab["event"] > 0).any() and (lab["event"] == 0).any()
