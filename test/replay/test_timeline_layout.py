"""timeline.png text labels never overlap, stay inside the plot, are cut only at word boundaries, and the
legends cover none of them (checked on the rendered figure, with the demo's dense narration)."""
from __future__ import annotations

import itertools

import pytest

from vstream_ros.replay.metrics import Utterance, timing_metrics

REFS = [(3.7, "C picks up the black ball."), (5.55, "C puts the black ball in the yellow cup."),
        (13.98, "C takes the black ball out of the yellow cup."), (15.13, "C moves the black ball closer."),
        (23.68, "C picks up the black ball."), (25.23, "C places the black ball on the cyan block."),
        (32.2, "C picks up the yellow cup."), (33.35, "C moves the yellow cup closer."),
        (38.22, "C picks up the black ball from the cyan block."),
        (39.59, "C places the black ball on the purple block."),
        (49.18, "C picks up the black ball from the purple block."),
        (50.55, "C places the black ball on the cyan block.")]
PREDS = [(4.0, "C picks up the black ball."), (6.0, "C moves the black ball to the yellow block."),
         (14.0, "C picks up the black ball."), (15.5, "C moves the yellow ball to the right."),
         (24.0, "C picks up the black ball."), (25.0, "C moves the black ball to the right."),
         (32.5, "C picks up the yellow cup."), (33.5, "C moves the yellow cup further away."),
         (39.0, "C picks up the cyan block."), (40.0, "C moves the black block to the purple block."),
         (49.5, "C picks up the black block."), (59.7, "C places the black block on the cyan block.")]


@pytest.fixture
def figure(monkeypatch, tmp_path):
    import vstream_ros.replay.report as report
    seen = {}
    real = report._fig_bytes

    def keep(fig):
        fig.canvas.draw()
        seen["fig"] = fig
        seen["renderer"] = fig.canvas.get_renderer()
        return real(fig)
    monkeypatch.setattr(report, "_fig_bytes", keep)
    refs = [Utterance(t, x) for t, x in REFS]
    preds = [Utterance(t, x) for t, x in PREDS]
    trace = [(i * 0.5, 0.99 if i % 7 else 0.01, "silent" if i % 7 else "respond") for i in range(121)]
    png = report.timeline_png(tmp_path / "timeline.png", refs, preds, timing_metrics(refs, preds, 1.0), trace, 0.725)
    assert png.read_bytes()[:4] == b"\x89PNG"
    return seen


def _labels(fig):
    texts = {t for _, t in REFS + PREDS}
    return [a for ax in fig.axes for a in ax.texts
            if a.get_text() in texts or a.get_text().endswith("…")]


def test_labels_do_not_overlap_and_stay_inside(figure):
    fig, r = figure["fig"], figure["renderer"]
    labels = _labels(fig)
    assert len(labels) >= 12                                            # most of the 24 are shown
    boxes = [a.get_window_extent(r) for a in labels]
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), (a, b)
    ax_box = fig.axes[0].get_window_extent(r)
    for b in boxes:
        assert ax_box.x0 <= b.x0 and b.x1 <= ax_box.x1 and ax_box.y0 <= b.y0 and b.y1 <= ax_box.y1


def test_labels_are_cut_at_word_boundaries(figure):
    full = [t for _, t in REFS + PREDS]
    for a in _labels(figure["fig"]):
        s = a.get_text()
        if s.endswith("…"):
            stem = s[:-1]
            assert any(t.startswith(stem) and t[len(stem)] in " ,.;:" for t in full), s


def test_legends_cover_no_label_and_no_data(figure):
    fig, r = figure["fig"], figure["renderer"]
    boxes = [a.get_window_extent(r) for a in _labels(fig)]
    for ax in fig.axes:
        leg = ax.get_legend()
        assert leg is not None
        lb = leg.get_window_extent(r)
        assert not any(lb.overlaps(b) for b in boxes)
        for other in fig.axes:
            assert not lb.overlaps(other.get_window_extent(r)), "legend inside a plotting area"
