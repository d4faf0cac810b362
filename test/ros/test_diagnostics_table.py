"""docs/ros.md documents every /diagnostics key the node can publish (interfaces/diagnostics.KEYS), with its unit,
and the status rule's messages; the key mapping keeps one key per concept."""
import math
import re
from pathlib import Path

from vstream_ros.interfaces.diagnostics import KEYS, documented, diagnostic_values, input_status

DOC = Path(__file__).resolve().parents[2] / "docs" / "ros.md"


def doc_rows() -> dict[str, str]:
    text = DOC.read_text()
    section = text[text.index("## `/diagnostics`"):]
    section = section[:section.index("\n## ", 1)]
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| `([^`]+)` \| ([^|]+?) \|", section, re.M)}


def test_docs_table_is_the_key_table():
    rows = doc_rows()
    assert rows == {k.name: k.unit for k in KEYS}
    assert len({k.name for k in KEYS}) == len(KEYS)


def test_documented_families_and_strangers():
    assert documented("corrupt_truncated") and documented("memory_sink") and documented("frames_decided")
    assert not documented("decisions") and not documented("stamp_counts")


def test_bounded_memory_and_error_keys_and_units():
    stats = {"memory_total": 90, "memory_sink": 4, "memory_recent": 60, "memory_frames_recent": 6,
             "memory_oldest_frame_t": 1.5, "first_token_p50_s": 0.25, "frames_skipped": 2, "off_grid": 3,
             "corrupt_frames": 1, "corrupt_truncated": 2, "corrupt_zero_size": 0, "responses": 5,
             "stamp_counts": {"ok": 4, "duplicate": 1, "out_of_order": 0, "jump": 2, "loop": 0}}
    kv = diagnostic_values(stats, ingest_fps=9.999, dropped_inactive=0, last_error="CUDA out\nof memory")
    assert all(documented(k) for k in kv)
    assert kv["memory_sink"] == "4" and kv["memory_text"] == "0" and "memory_total" not in kv
    assert "memory_oldest_frame_t" not in kv and kv["memory_frames_recent"] == "6"
    assert kv["first_token_ms"] == "250.0" and kv["off_grid"] == "5" and kv["ingest_fps"] == "10.00"
    assert kv["corrupt_frames"] == "3" and kv["corrupt_truncated"] == "2" and "corrupt_zero_size" not in kv
    assert kv["frames_spoken"] == "5" and kv["stamp_jumps"] == "2" and kv["dropped_duplicate"] == "1"
    assert kv["last_error"] == "CUDA out of memory" and kv["decision_latency_ms"] == "nan"
    assert not math.isnan(float(kv["first_token_ms"]))


def test_status_messages_are_the_documented_ones():
    text = DOC.read_text()
    cases = [(False, None, 0, 0), (True, None, 0, 0), (True, 1.0, 1.0, 0.0), (True, 30.0, 0.0, 0.0),
             (True, 30.0, 30.0, 86400.0), (True, 30.0, 30.0, 0.05)]
    got = [input_status(active, 2.0, idle, advance, lag) for active, idle, advance, lag in cases]
    assert [lvl for lvl, _ in got] == [0, 0, 0, 0, 0, 1]
    for _, msg in got:
        assert re.sub(r"\d+ s", "N s", msg) in text, msg
