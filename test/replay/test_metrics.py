"""Free-running metrics on hand-computed cases."""
import math

import pytest

from vstream_ros.replay.metrics import Utterance, match_times, rouge_l_f1, run_metrics, timing_metrics, token_f1


def U(*ts):
    return [Utterance(float(t), f"u{t}") for t in ts]


def test_greedy_trap_gets_the_maximum_matching():
    # greedy nearest-first would take (1.0, 0.9) and then fail to match 0.0
    assert match_times([0.0, 1.0], [0.9, 1.95], 1.0) == [(0, 0), (1, 1)]


def test_matching_minimises_total_dt_among_maximum_matchings():
    # one ref, two candidates: the nearer is chosen; unsorted input indices are preserved
    assert match_times([5.0], [6.5, 5.2], 2.0) == [(0, 1)]
    # two refs competing for one pred: the nearer ref wins
    assert match_times([0.0, 0.8], [1.0], 2.0) == [(1, 0)]


def test_hand_computed_case():
    refs = U(0, 10, 20, 30)
    preds = U(0.5, 9.0, 21.5, 40, 41)
    r = timing_metrics(refs, preds, tolerance=2.0, duration_s=60.0)
    assert (r.tp, r.n_ref, r.n_pred) == (3, 4, 5)
    assert r.precision == pytest.approx(3 / 5)
    assert r.recall == pytest.approx(3 / 4)
    assert r.f1 == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert r.mean_abs_dt == pytest.approx((0.5 + 1.0 + 1.5) / 3)
    assert r.median_abs_dt == pytest.approx(1.0)
    assert r.mean_dt == pytest.approx((0.5 - 1.0 + 1.5) / 3)
    assert (r.early, r.on_time, r.late) == (1, 0, 2)
    assert r.pred_per_min == pytest.approx(5.0)
    assert r.ref_per_min == pytest.approx(4.0)


def test_no_predictions():
    r = timing_metrics(U(1, 2), [], 2.0)
    assert (r.tp, r.precision, r.recall, r.f1) == (0, 0.0, 0.0, 0.0)
    assert r.mean_abs_dt is None and r.rouge_l is None and r.pred_per_min == 0.0


def test_no_references():
    r = timing_metrics([], U(1, 2, 3), 2.0, duration_s=30)
    assert (r.tp, r.precision, r.recall, r.f1) == (0, 0.0, 0.0, 0.0)
    assert r.pred_per_min == pytest.approx(6.0)


def test_both_empty_is_perfect_by_convention():
    r = timing_metrics([], [], 2.0)
    assert (r.precision, r.recall, r.f1) == (1.0, 1.0, 1.0)


def test_all_early_and_all_late():
    early = timing_metrics(U(10, 20), U(9, 18.5), 2.0)
    assert (early.early, early.late, early.on_time) == (2, 0, 0)
    assert early.mean_dt == pytest.approx(-1.25)
    late = timing_metrics(U(10, 20), U(11, 21.5), 2.0)
    assert (late.early, late.late) == (0, 2)
    assert late.mean_dt == pytest.approx(1.25) and late.mean_abs_dt == pytest.approx(1.25)


def test_tolerance_boundary_is_inclusive_and_zero_tolerance_needs_equality():
    assert timing_metrics(U(10), U(12), 2.0).tp == 1
    assert timing_metrics(U(10), U(12.001), 2.0).tp == 0
    r = timing_metrics(U(10), U(10), 0.0)
    assert r.tp == 1 and r.on_time == 1
    with pytest.raises(ValueError):
        match_times([1.0], [1.0], -1.0)


def test_dense_predictions_one_to_one():
    refs = U(*range(0, 100, 5))
    preds = [Utterance(t / 2) for t in range(200)]       # a prediction every 0.5 s
    r = timing_metrics(refs, preds, 2.0)
    assert r.tp == len(refs) and r.mean_abs_dt == 0.0
    assert len({p["pred_t"] for p in r.pairs}) == r.tp


def test_text_similarity():
    assert rouge_l_f1("You pick up a knife.", "you pick up a knife") == 1.0
    # LCS("a b c d", "a c d e") = 3 -> P = R = 3/4
    assert rouge_l_f1("a b c d", "a c d e") == pytest.approx(0.75)
    assert rouge_l_f1("a b", "c d") == 0.0 and rouge_l_f1("", "") == 1.0
    # token F1 ignores order: "b a" vs "a b c" -> P = 1, R = 2/3
    assert token_f1("a b c", "b a") == pytest.approx(0.8)
    assert rouge_l_f1("a b c", "b a") == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))


def test_pairs_carry_text_scores():
    r = timing_metrics([Utterance(1, "You open the door.")], [Utterance(1.5, "you open the door")], 2.0)
    assert r.rouge_l == 1.0 and r.token_f1 == 1.0 and r.pairs[0]["dt"] == pytest.approx(0.5)


def test_run_metrics():
    out = run_metrics({"decision_ms": [10, 20, 30], "wall_s": 2.0, "frames_in": 50, "frames_used": 10,
                       "stream_s": 5.0, "corrupt": 1, "undecodable": 2, "bad_encoding": 0})
    assert out["decision_latency_ms"]["median"] == 20 and out["decision_latency_ms"]["n"] == 3
    assert out["ingest_fps"] == 25 and out["model_fps"] == 5 and out["realtime_factor"] == 2.5
    assert out["frames_dropped"] == 3
    assert math.isclose(run_metrics({"decision_ms": []})["decision_latency_ms"]["n"], 0)
