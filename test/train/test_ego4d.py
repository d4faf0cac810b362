"""Ego4D narration / GoalStep builders on fixture files in the official schemas (docs/design/ego4d-data.md)."""
import pytest

from vstream_ros.train.ego4d_goalstep import (
    build_livechat_dialogues,
    filter_livechat,
    goalstep_units,
)
from vstream_ros.train.ego4d_narration import (
    TAG_INSTRUCTION,
    DatasetError,
    build_narration_dialogues,
    clean_text,
    rule_based_you,
    split_video_uids,
)

UID = "00000000-aaaa-4bbb-8ccc-000000000001"
UID2 = "00000000-aaaa-4bbb-8ccc-000000000002"


def redacted(narrations):
    return {"videos": {UID: {"narrations": narrations}}, "_map_errs": {"x": 1}}


def test_clean_text_rules():
    assert clean_text("#C C picks up a knife") == "C picks up a knife."
    assert clean_text("#C C cuts the #unsure") == "C cuts the."
    assert clean_text("#O man X OPENS the door.\n") == "Man X OPENS the door."
    assert clean_text("  #c c  looks   around , ") == "C looks around."
    assert clean_text("#C C") is None and clean_text("#unsure") is None


def test_rule_based_is_second_person():
    assert rule_based_you("C picks up a knife.") == "You pick up a knife."
    assert rule_based_you("C carries the box to C's car.") == "You carry the box to your car."
    assert rule_based_you("C washes the dishes.") == "You wash the dishes."
    assert rule_based_you("A man X gives C a cup.") == "A man gives you a cup."


def test_spec_example_grid_and_instruction():
    data = redacted([{"time": 1.20, "text": "#C C picks up a knife", "_annotation_uid": "p1"},
                     {"time": 4.70, "text": "#C C cuts the vegetable", "_annotation_uid": "p1"}])
    dias, rep = build_narration_dialogues(data, {UID: 60})
    assert rep.samples == 1 and len(dias) == 1
    d = dias[0]
    assert d.start_frame == 3 and d.num_frames == 8            # frames 3…10
    assert d.conversation == [
        {"role": "stream", "num_frames": 1, "learn": False},
        {"role": "user", "content": TAG_INSTRUCTION},
        {"role": "assistant", "content": "C picks up a knife.", "learn": True},
        {"role": "stream", "num_frames": 7, "learn": True},
        {"role": "assistant", "content": "C cuts the vegetable.", "learn": True}]
    assert d.text_variant == "cleaned"


def test_passes_kept_separate_and_official_schema():
    official = {UID: {"narration_pass_1": {"narrations": [
        {"timestamp_sec": 1.2, "timestamp_frame": 36, "narration_text": "#C C picks up a knife", "annotation_uid": "a"},
        {"timestamp_sec": 9.05, "timestamp_frame": 271, "narration_text": "#O man X opens the door",
         "annotation_uid": "a"}]},
        "narration_pass_2": {"narrations": [
            {"timestamp_sec": 1.35, "timestamp_frame": 41, "narration_text": "#C C holds a knife.", "annotation_uid": "b"}]},
        "status": "complete"},
        UID2: {"status": "redacted"}}
    dias, rep = build_narration_dialogues(official, {UID: 100, UID2: 100}, variant="rule-based")
    assert sorted(d.id for d in dias) == [f"{UID}/a", f"{UID}/b"]
    a = next(d for d in dias if d.id.endswith("/a"))
    assert [m["content"] for m in a.conversation if m["role"] == "assistant"] == ["You pick up a knife.",
                                                                                "Man opens the door."]
    assert a.conversation[3]["num_frames"] == 19 - 3            # ceil(2.4)=3 → ceil(18.1)=19
    assert rep.skipped["video: empty annotations"] == 1


def test_same_frame_overwrites_duplicate_skipped_and_clipping():
    data = redacted([{"time": 1.1, "text": "#C C opens a jar", "_annotation_uid": "p"},
                     {"time": 1.4, "text": "#C C opens a lid", "_annotation_uid": "p"},      # same frame 3: overwrite
                     {"time": 3.0, "text": "#C C opens a lid", "_annotation_uid": "p"},      # same text: skipped
                     {"time": 99.0, "text": "#C C leaves the room", "_annotation_uid": "p"}])  # clipped to T-1
    dias, rep = build_narration_dialogues(data, {UID: 11})
    conv = dias[0].conversation
    assert [m.get("content") for m in conv if m["role"] == "assistant"] == ["C opens a lid.", "C leaves the room."]
    assert dias[0].start_frame + dias[0].num_frames - 1 == 10
    assert rep.skipped["narration: after end of features (clipped)"] == 1


def test_cap_at_max_frames():
    data = redacted([{"time": t, "text": f"#C C does step {i}", "_annotation_uid": "p"}
                     for i, t in enumerate([0.5, 3.0, 6.0, 9.0])])
    dias, _ = build_narration_dialogues(data, {UID: 100}, max_frames=12)
    assert dias[0].num_frames <= 12
    assert dias[0].conversation[-1]["role"] == "assistant"
    assert dias[0].num_frames == 1 + 5 + 6                      # frames 1, 6, 12: the stream to 18 is cut


def test_bad_data_counted_and_errors():
    data = {"videos": {UID: {"narrations": [{"time": "x", "text": "#C C runs", "_annotation_uid": "p"},
                                            {"time": -1, "text": "#C C runs", "_annotation_uid": "p"},
                                            {"time": 2.0, "text": "#C", "_annotation_uid": "p"}]},
                       UID2: {"narrations": [{"time": 1.0, "text": "#C C runs", "_annotation_uid": "p"}]}}}
    with pytest.raises(DatasetError) as e:
        build_narration_dialogues(data, {UID: 50})
    msg = str(e.value)
    assert "bad timestamp: 2" in msg and "missing features: 1" in msg and "< 2 words: 1" in msg
    with pytest.raises(DatasetError, match="no videos"):
        build_narration_dialogues({"videos": {}}, {})


def test_split_uids():
    files = {"goalstep_val": {"videos": [{"video_uid": "a"}]}, "fho_lta_val": {"clips": [{"video_uid": "b"}]},
             "fho_sta_val": {"annotations": [{"video_id": "c"}]}}
    assert split_video_uids(files) == {"a", "b", "c"}


GOALSTEP = {"version": "1.0", "date": "000000", "split": "train", "videos": [{
    "video_uid": UID2, "start_time": 0.0, "end_time": 120.0, "goal_category": "COOKING:MAKE_SALAD",
    "goal_description": "Make a salad", "goal_wikihow_url": "", "summary": [], "is_procedural": True,
    "segments": [
        {"start_time": 45, "end_time": 110, "step_category": "c", "step_description": "Cut the cucumber",
         "segments": []},
        {"start_time": 2.0, "end_time": 40.0, "step_category": "c", "step_description": "Wash the lettuce ",
         "is_relevant": "unsure", "summary": [],
         "segments": [{"start_time": 2.0, "end_time": 15.5, "step_description": "rinse lettuce"},
                      {"start_time": "bad", "end_time": 3.0, "step_description": "x"}]}]},
    {"video_uid": "empty", "segments": []}]}


def test_goalstep_units():
    units, rep = goalstep_units(GOALSTEP)
    assert [(u.kind, u.title) for u in units] == [("goal", "Make a salad"), ("step", "Wash the lettuce")]
    assert units[0].items[0] == (2.0, 40.0, "Wash the lettuce")          # sorted by start, stripped
    assert rep.skipped["segment: bad timestamp"] == 1 and rep.skipped["video: empty annotations"] == 1
    with pytest.raises(DatasetError, match="videos"):
        goalstep_units([])


LIVECHAT = [{"video_uid": UID2, "conversation": [
    {"role": "user", "content": "What should I do next?", "time": 5.3},
    {"role": "assistant", "content": "Start by washing the lettuce.", "time": 5.3},
    {"role": "assistant", "content": "Now rinse it well under the tap.", "time": 15.5},
    {"role": "user", "content": "What have I done so far?", "time": 44.2},
    {"role": "assistant", "content": "You washed the lettuce.", "time": 44.6},
    {"role": "assistant", "content": "Too soon.", "time": 44.9},                      # same grid frame: dropped
    {"role": "assistant", "content": "Well done, the cucumber is cut.", "time": 76.3},
    {"role": "assistant", "content": "Back in time.", "time": 70.0}]}]


def test_livechat_grid_rules():
    dias, rep = build_livechat_dialogues(LIVECHAT, {UID2: 200}, seed=1)
    d = dias[0]
    conv = d.conversation
    w = conv[0]["num_frames"] if conv[0]["role"] == "stream" else 0
    assert 0 <= w <= 10 and (w == 0 or conv[0]["learn"] == w - 1)
    body = conv[1:] if w else conv
    assert body == [
        {"role": "user", "content": "What should I do next?"},
        {"role": "assistant", "content": "Start by washing the lettuce.", "learn": True},
        {"role": "stream", "num_frames": 31 - 10, "learn": True},        # user floor(10.6)=10 → ceil(31.0)=31
        {"role": "assistant", "content": "Now rinse it well under the tap.", "learn": True},
        {"role": "stream", "num_frames": 88 - 31, "learn": True},        # user floor(88.4)=88
        {"role": "user", "content": "What have I done so far?"},
        {"role": "stream", "num_frames": 2, "learn": True},              # ceil(89.2)=90
        {"role": "assistant", "content": "You washed the lettuce.", "learn": True},
        {"role": "stream", "num_frames": 153 - 90, "learn": True},       # ceil(152.6)=153
        {"role": "assistant", "content": "Well done, the cucumber is cut.", "learn": True}]
    assert d.start_frame == 10 - w + 1 and d.start_frame + d.num_frames - 1 == 153
    assert rep.skipped["assistant: same grid frame as previous (dropped)"] == 1
    assert rep.skipped["conversation: cut at time regression or past the features"] == 1
    again, _ = build_livechat_dialogues(LIVECHAT, {UID2: 200}, seed=1)
    assert again == dias                                                  # reproducible waiting frames


def test_livechat_bad_cases_and_filter():
    bad = [{"video_uid": UID2, "conversation": [{"role": "assistant", "content": "hi", "time": 1.0}]},
           {"video_uid": UID2, "conversation": [{"role": "user", "content": "hi", "time": 0.0}]},
           {"video_uid": "nofeat", "conversation": [{"role": "user", "content": "hi", "time": 1.0}]},
           {"video_uid": UID2, "conversation": []}]
    with pytest.raises(DatasetError) as e:
        build_livechat_dialogues(bad, {UID2: 100})
    for reason in ("does not start with a user message: 1", "bad timestamp: 1", "missing features: 1",
                   "empty annotations: 1"):
        assert reason in str(e.value)
    long = dict(LIVECHAT[0], conversation=LIVECHAT[0]["conversation"][:7])
    secs = {"video_uid": UID2, "conversation": [{"role": "user", "content": "a", "time": 1.0},
                                               {"role": "assistant", "content": "10s later", "time": 90.0}]}
    short = {"video_uid": UID2, "conversation": [{"role": "user", "content": "a", "time": 1.0},
                                                {"role": "assistant", "content": "b", "time": 9.0}]}
    kept, rep = filter_livechat([long, secs, short])
    assert [k["duration"] for k in kept] == [pytest.approx(71.0)]
    assert rep.skipped["conversation: mentions absolute time"] == 1
    assert rep.skipped["conversation: duration out of range"] == 1


def test_split_files(tmp_path, capsys):
    import json

    from vstream_ros.train import splits
    ann = tmp_path / "ann"
    ann.mkdir()
    (ann / "all_narrations_redacted.json").write_text(json.dumps(
        {"videos": {u: {"narrations": []} for u in ("a", "b", "c", "d")}, "_map_errs": {}}))
    (ann / "goalstep_val.json").write_text(json.dumps({"videos": [{"video_uid": "a"}]}))
    (ann / "nlq_test_unannotated.json").write_text(json.dumps({"videos": [{"video_uid": "a"}, {"video_uid": "b"}]}))
    assert splits.main(["--annotations", str(ann), "--out", str(tmp_path / "o")]) == 0
    read = {s: (tmp_path / "o" / f"narration_{s}_uids.txt").read_text().split() for s in ("train", "val", "test",
                                                                                           "trainval")}
    assert read == {"train": ["c", "d"], "val": ["a"], "test": ["b"], "trainval": ["a", "c", "d"]}
    assert "14 benchmark files missing" in capsys.readouterr().out
