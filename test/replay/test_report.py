"""report.md + timeline.png + latency.png are written (atomically) for normal and degenerate runs."""
from vstream_ros.replay.metrics import Utterance, run_metrics, timing_metrics
from vstream_ros.replay.report import markdown, write_report

PNG = b"\x89PNG\r\n\x1a\n"


def test_report_with_trace_and_latency(tmp_path):
    refs = [Utterance(10.0, "You pick up the cup."), Utterance(20.0, "You drink.")]
    preds = [Utterance(10.5, "you pick up a cup"), Utterance(30.0, "noise")]
    stats = {"decision_ms": [5.0, 6.0, 50.0], "response_ms": [9.0], "trace": [[10.0, 0.2, "respond"],
             [10.5, 0.9, "silent"], [30.0, 0.1, "respond"]], "wall_s": 1.0, "frames_in": 3, "threshold": 0.725}
    result = timing_metrics(refs, preds, 2.0)
    paths = write_report(tmp_path / "rep", result, refs, preds, stats, run_metrics(stats), "vstream eval --x",
                         {"lm_ppl": 3.5, "turns": 2})
    for key in ("timeline", "latency"):
        assert paths[key].read_bytes()[:8] == PNG and paths[key].stat().st_size > 5000
    md = paths["report"].read_text()
    assert "vstream eval --x" in md and "| F1 | 0.500 |" in md and "| lm_ppl | 3.5000 |" in md
    assert "| 10.00 | 10.50 | +0.50 | You pick up the cup. | you pick up a cup |" in md
    assert sorted(p.name for p in (tmp_path / "rep").iterdir()) == ["latency.png", "report.md", "timeline.png"]


def test_report_without_predictions_or_run_stats(tmp_path):
    refs = [Utterance(1.0, "a b")]
    result = timing_metrics(refs, [], 2.0)
    paths = write_report(tmp_path, result, refs, [], {}, {}, "cmd")
    assert paths["timeline"].read_bytes()[:8] == PNG and paths["latency"].read_bytes()[:8] == PNG
    assert "| precision | 0.000 |" in markdown(result, {}, "cmd") and "n/a" in markdown(result, {}, "cmd")
