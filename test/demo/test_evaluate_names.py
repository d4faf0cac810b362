"""The object / colour / shape / action columns of the demo evaluation: which object and verb a narration
names, and the per-pair shares the aggregate reports (a narrator with the right verb and the wrong object
must score 0 on object, 1 on action; the right colour on the wrong shape counts for colour only)."""
from __future__ import annotations

from vstream_ros.demo.evaluate import Aggregate, format_table, named_action, named_object, named_parts
from vstream_ros.replay.metrics import Utterance, timing_metrics


def test_named_object_and_action():
    assert named_object("C picks up the red cup.") == "red cup"
    assert named_object("C places the white card on the cyan block.") == "white card"
    assert named_object("C moves the Green Ball to the left.") == "green ball"
    assert named_object("Something changed.") is None
    assert named_object("C picks up the red.") is None
    assert named_parts("C places the white card on the cyan block.") == ("white", "card")
    assert named_parts("Something changed.") == (None, None)
    assert named_action("C picks up the red cup from the blue block.") == "picks up"
    assert named_action("C places the white card on the cyan block.") == "places"
    assert named_action("C moves the red cup to the right.") == "moves"
    assert named_action("Something changed.") is None


def test_aggregate_object_and_action_shares():
    refs = [Utterance(1.0, "C picks up the red cup."), Utterance(5.0, "C places the red cup on the blue block."),
            Utterance(9.0, "C picks up the white card.")]
    preds = [Utterance(1.2, "C picks up the red cup."), Utterance(5.1, "C places the green block on the blue block."),
             Utterance(9.3, "C moves the white card to the left.")]
    row = Aggregate("m").add(timing_metrics(refs, preds, 1.0, duration_s=10.0)).row()
    assert row["tp"] == 3
    assert abs(row["object"] - 2 / 3) < 1e-9 and abs(row["action"] - 2 / 3) < 1e-9
    # the wrong object of pair 2 has the wrong colour (green/red) and the wrong shape (block/cup)
    assert abs(row["colour"] - 2 / 3) < 1e-9 and abs(row["shape"] - 2 / 3) < 1e-9
    half = [Utterance(1.1, "C picks up the blue cup."), Utterance(5.2, "C places the red block on the blue block.")]
    row2 = Aggregate("m2").add(timing_metrics(refs[:2], half, 1.0, duration_s=10.0)).row()
    assert row2["object"] == 0.0 and row2["colour"] == 0.5 and row2["shape"] == 0.5
    empty = Aggregate("silent").add(timing_metrics(refs, [], 1.0, duration_s=10.0)).row()
    assert empty["object"] is None and empty["action"] is None and empty["colour"] is None
    table = format_table([row, empty])
    assert "object" in table.splitlines()[0] and "shape" in table.splitlines()[0] and "0.667" in table.splitlines()[2] and "n/a" in table.splitlines()[3]
