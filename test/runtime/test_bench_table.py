"""The `vstream bench` comparison column reads one way on every row ("better" is better, whatever the metric's
direction) and never prints nan: counts where zero is normal compare as a difference."""
from vstream_ros.bench.core import METRICS, format_table


def _result(ref: dict, pipe: dict) -> dict:
    def summary(vals):
        return {m: {"min": v, "median": v, "max": v} for m, v in vals.items()}
    return {"summary": {"reference": summary(ref), "pipeline": summary(pipe)}}


def _row(table: str, metric: str) -> str:
    return next(line for line in table.splitlines() if line.split()[0] == metric)


def test_every_row_says_how_much_better_the_pipeline_is():
    nan = float("nan")
    ref = {"ingest_fps": 2.0, "decision_p50_ms": 100.0, "decision_p99_ms": 100.0, "first_token_ms": 50.0,
           "decode_tok_s": 10.0, "utterance_ms": 400.0, "dropped": 0, "peak_mem_mb": 1000.0}
    pipe = {"ingest_fps": 4.0, "decision_p50_ms": 50.0, "decision_p99_ms": 200.0, "first_token_ms": nan,
            "decode_tok_s": 10.0, "utterance_ms": 400.0, "dropped": 3, "peak_mem_mb": 1000.0}
    table = format_table(_result(ref, pipe))
    assert "nan" not in table
    assert _row(table, "ingest_fps").endswith("×2.00 better")          # higher is better: b/a
    assert _row(table, "decision_p50_ms").endswith("×2.00 better")     # lower is better: a/b
    assert _row(table, "decision_p99_ms").endswith("×2.00 worse")
    assert _row(table, "first_token_ms").endswith("n/a")
    assert _row(table, "decode_tok_s").endswith("same")
    assert _row(table, "dropped").endswith("+3 frames")
    assert "↑" in _row(table, "ingest_fps") and "↓" in _row(table, "peak_mem_mb")
    assert [line.split()[0] for line in table.splitlines()[1:1 + len(METRICS)]] == list(METRICS)


def test_no_drops_in_either_loop_reads_same_not_nan():
    ref = {m: 1.0 for m in METRICS} | {"dropped": 0}
    table = format_table(_result(ref, dict(ref)))
    assert _row(table, "dropped").endswith("same") and "nan" not in table
