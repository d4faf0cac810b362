"""Quality over time: per-window metrics add up to the whole stream, show where quality drops, are on by default for
long streams, and reach `vstream eval`'s printout, JSON and report (table + quality_time.png)."""
from __future__ import annotations

import json

import pytest

from vstream_ros.engine.events import Response
from vstream_ros.replay.metrics import Utterance, timing_metrics
from vstream_ros.replay.windows import auto_window_s, window_metrics


def _stream(minutes: int, good_minutes: int):
    """One reference every 10 s; predictions on time for the first `good_minutes`, then 5 s late (unmatched)."""
    refs, preds = [], []
    for k in range(minutes * 6):
        t = 5.0 + 10.0 * k
        refs.append(Utterance(t, f"C picks up cup {k}"))
        preds.append(Utterance(t + (0.3 if t < good_minutes * 60 else 5.0), f"C picks up cup {k}"))
    return refs, preds


def test_windows_add_up_to_the_whole_and_show_the_drop():
    refs, preds = _stream(30, 10)
    whole = timing_metrics(refs, preds, 1.0, duration_s=1800.0)
    w = window_metrics(refs, preds, 1.0, 600.0, 1800.0)
    rows = w["rows"]
    assert [(r["start"], r["end"]) for r in rows] == [(0, 600), (600, 1200), (1200, 1800)]
    assert sum(r["tp"] for r in rows) == whole.tp
    assert sum(r["n_ref"] for r in rows) == whole.n_ref and sum(r["n_pred"] for r in rows) == whole.n_pred
    assert rows[0]["f1"] == pytest.approx(1.0) and rows[1]["f1"] == 0.0 and rows[2]["f1"] == 0.0
    assert rows[0]["mean_abs_dt"] == pytest.approx(0.3)
    assert 0.3 < whole.f1 < 0.4


def test_a_pair_never_splits_at_a_window_edge_and_empty_windows_follow_the_conventions():
    refs = [Utterance(59.8, "a")]
    preds = [Utterance(60.4, "a")]                      # across the 1-minute edge, within tolerance
    rows = window_metrics(refs, preds, 1.0, 60.0, 180.0)["rows"]
    assert rows[0]["tp"] == 1 and rows[0]["recall"] == 1.0 and rows[0]["n_pred"] == 0
    assert rows[1]["n_pred"] == 1 and rows[1]["tp_pred"] == 1 and rows[1]["precision"] == 1.0
    assert rows[2]["f1"] == 1.0                          # nothing to say, nothing said


def test_scores_stay_ratios_when_pairs_cross_edges_both_ways():
    refs = [Utterance(59.8, "a"), Utterance(60.5, "b"), Utterance(119.9, "c")]
    preds = [Utterance(60.2, "a"), Utterance(59.9, "b"), Utterance(120.3, "c"), Utterance(30.0, "x")]
    w = window_metrics(refs, preds, 1.0, 60.0, 180.0)
    for r in w["rows"]:
        assert 0.0 <= r["precision"] <= 1.0 and 0.0 <= r["recall"] <= 1.0 and 0.0 <= r["f1"] <= 1.0
    assert sum(r["tp"] for r in w["rows"]) == sum(r["tp_pred"] for r in w["rows"]) == 3


def test_wall_clock_times_start_the_windows_at_the_first_time():
    base = 1.7e9
    refs = [Utterance(base + 5, "a"), Utterance(base + 70, "b")]
    w = window_metrics(refs, [Utterance(base + 5.2, "a")], 1.0, 60.0)
    assert w["origin"] == base + 5 and [r["tp"] for r in w["rows"]] == [1, 0]


def test_windows_are_on_by_default_only_for_long_streams():
    assert auto_window_s(20 * 60.0, None) is None
    assert auto_window_s(20 * 60.0 + 1, None) == 600.0
    assert auto_window_s(60.0, 1.0) == 60.0
    assert auto_window_s(3600.0, 0.0) is None
    with pytest.raises(ValueError, match="--window-minutes"):
        auto_window_s(60.0, -1.0)


def _write_events(path, preds):
    with open(path, "w") as f:
        for k, u in enumerate(preds):
            f.write(json.dumps(Response(time=u.t, frame_index=k, trigger="proactive", text=u.text, token_ids=(1,)).to_json()) + "\n")


def _write_refs(path, refs):
    path.write_text(json.dumps({"vid": {"narration_pass_1": {"narrations": [
        {"timestamp_sec": u.t, "narration_text": "#C " + u.text} for u in refs]}}}))


def test_eval_scores_a_long_stream_per_window_in_print_json_and_report(tmp_path, capsys):
    from vstream_ros.cli import main
    refs, preds = _stream(30, 10)
    _write_events(tmp_path / "ev.jsonl", preds)
    _write_refs(tmp_path / "narration.json", refs)
    argv = ["eval", "--pred", str(tmp_path / "ev.jsonl"), "--ref", str(tmp_path / "narration.json"), "--video-uid",
            "vid", "--tolerance", "1", "--json", str(tmp_path / "m.json"), "--report", str(tmp_path / "rep")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "per 10-minute window" in out and "min 0-10  F1 1.000" in out and "min 20-30  F1 0.000" in out
    summary = json.loads((tmp_path / "m.json").read_text())
    assert [r["f1"] for r in summary["windows"]["rows"]] == [1.0, 0.0, 0.0]
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "## Quality over time (10-minute windows" in md and "| 0–10 | 60 | 60 | 60 |" in md
    assert (tmp_path / "rep" / "quality_time.png").stat().st_size > 1000


def test_eval_of_a_short_stream_has_no_windows_unless_asked(tmp_path, capsys):
    from vstream_ros.cli import main
    refs, preds = _stream(2, 1)
    _write_events(tmp_path / "ev.jsonl", preds)
    _write_refs(tmp_path / "narration.json", refs)
    base = ["eval", "--pred", str(tmp_path / "ev.jsonl"), "--ref", str(tmp_path / "narration.json"), "--video-uid",
            "vid", "--tolerance", "1", "--json", str(tmp_path / "m.json")]
    assert main(base) == 0
    assert "windows" not in json.loads((tmp_path / "m.json").read_text())
    assert main(base + ["--window-minutes", "1"]) == 0
    assert [r["f1"] for r in json.loads((tmp_path / "m.json").read_text())["windows"]["rows"]] == [1.0, 0.0]
    assert main(base + ["--window-minutes", "-2"]) == 2
    assert "--window-minutes must be" in capsys.readouterr().err
