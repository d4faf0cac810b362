"""Pure stamp logic: ordering, duplicates, loops, jumps, stalls, exact stamp bookkeeping."""
import pytest

from vstream_ros.interfaces.stamps import StampBook, StampTracker, sec_to_stamp, stamp_to_sec


def kinds(ts, **kw):
    tr = StampTracker(**kw)
    return [(v.kind, v.accept, v.restart) for v in map(tr.check, ts)], tr


def test_ordered_stream_is_all_ok():
    out, tr = kinds([1.0, 1.1, 1.2])
    assert out == [("ok", True, False)] * 3 and tr.counts["ok"] == 3


def test_duplicate_and_small_backwards_step_are_dropped():
    out, tr = kinds([1.0, 1.0, 1.2, 1.1, 1.3])
    assert [o[0] for o in out] == ["ok", "duplicate", "ok", "out_of_order", "ok"]
    assert tr.last == 1.3 and tr.counts["duplicate"] == 1 and tr.counts["out_of_order"] == 1


def test_bag_loop_restarts_and_forward_jump_is_counted():
    out, tr = kinds([10.0, 10.5, 11.0, 10.0, 10.5, 30.0])
    assert out[3] == ("loop", True, True)
    assert out[5] == ("jump", True, False)
    assert tr.counts["loop"] == 1 and tr.counts["jump"] == 1


def test_nan_stamp_rejected_and_stall_detection():
    tr = StampTracker(stall_s=2.0)
    assert not tr.check(float("nan")).accept
    assert not tr.stalled(100.0)                # nothing seen yet: not a stall
    tr.check(1.0, wall=100.0)
    assert not tr.stalled(101.0) and tr.stalled(102.5)


def test_invalid_config():
    with pytest.raises(ValueError):
        StampTracker(loop_back_s=0)


def test_stamp_conversions_and_book_are_exact():
    sec, ns = 1_700_000_123, 987_654_321
    t = stamp_to_sec(sec, ns)
    assert sec_to_stamp(2.5) == (2, 500_000_000)
    book = StampBook(capacity=2)
    book.remember(t, sec, ns)
    assert book.stamp(t) == (sec, ns)               # float seconds would lose ~100 ns here
    book.remember(1.0, 1, 0)
    book.remember(2.0, 2, 0)
    assert book.stamp(t) == sec_to_stamp(t)         # evicted → falls back to conversion
