"""The assistant's /diagnostics: one documented key per concept, and the rule for the status level and message.

`KEYS` is the table docs/ros.md shows (key, unit, meaning; test/ros checks that the two agree).
`diagnostic_values(stats, …)` turns the stream host's counters (StreamHost.stats(), which replay and `vstream run`
also use, with engine-internal names) into those keys, as strings. `input_status(…)` says whether the input is
flowing, waiting, stalled (a live camera stopped: WARN) or idle (a recording ended or its /clock stopped: OK).

Pure logic: stdlib only; must not import rclpy, torch or the engine.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

OK, WARN = 0, 1                      # diagnostic_msgs/DiagnosticStatus levels
RECORDED_LAG_S = 60.0                # stamps further than this from the node's clock: not a live camera
CLOCK_STOPPED = 0.01                 # the node's clock advanced less than 1 % of the wall time: /clock stopped


BOUNDED = "bounded memory (`memory.policy` not full)"
OVERLAY = "`overlay.enabled`"


@dataclass(frozen=True)
class Key:
    name: str
    unit: str
    meaning: str
    present: str = ""                # empty = always; else when the key is published


KEYS: tuple[Key, ...] = (
    # input
    Key("frames_in", "frames", "frames received on the camera topic while active"),
    Key("ingest_fps", "Hz", "frames received per second over the last diagnostics period"),
    Key("dropped_inactive", "frames", "frames received while the node was not active (not used)"),
    Key("frames_missed_at_start", "frames", "model-clock slots between the earliest stream time the node saw since "
                                            "configure (any frame's capture stamp, frames received while inactive "
                                            "included; under `use_sim_time` also the first `/clock`, when it agrees "
                                            "with the stamps) and the first frame the model took: a lower bound of "
                                            "what a late join missed"),
    Key("off_grid", "frames", "frames between two model-clock slots (the camera is faster than `stream.fps`; "
                              "not used, by design)"),
    Key("dropped_duplicate", "frames", "frames whose capture stamp repeats the previous one (not used)"),
    Key("dropped_out_of_order", "frames", "frames stamped slightly before the previous one (not used)"),
    Key("stamp_jumps", "count", "forward gaps between capture stamps longer than 5 s (a stall or a seek; "
                                "the frame is used)"),
    Key("stream_restarts", "count", "capture stamps that went back by 1 s or more (a bag loop, a clock reset): "
                                    "the stream restarted"),
    Key("corrupt_frames", "frames", "frames whose pixels could not be used (undecodable, or not an image the "
                                    "vision tower takes); the next frame fills their model-clock slot"),
    Key("corrupt_<reason>", "frames", "corrupt frames by reason: bad_step, truncated, unknown_encoding, "
                                      "zero_size, undecodable", "one key per reason seen"),
    # model
    Key("frames_sampled", "frames", "frames the model clock kept (one per slot of 1/`stream.fps` s of capture "
                                    "time), queued for the model"),
    Key("frames_decided", "frames", "sampled frames the model has decided (speak or stay silent)"),
    Key("frames_lost", "frames", "sampled frames that will never be decided: dropped_thinned + dropped_oldest + "
                                 "dropped_error + frames the vision tower rejected"),
    Key("dropped_thinned", "frames", "queued frames dropped under sustained overload by thinning to 1 fps"),
    Key("dropped_oldest", "frames", "queued frames dropped under sustained overload, oldest first"),
    Key("dropped_error", "frames", "frames lost with a model step that failed"),
    Key("engine_errors", "count", "model steps that failed (logged; the stream was reset)"),
    Key("frames_spoken", "frames", "decided frames at which the model chose to speak (proactive utterances "
                                   "started)"),
    Key("utterances", "count", "finished utterances published on `narration_text` (proactive ones and answers)"),
    Key("queries", "count", "questions received (`query` topic and `ask` action)"),
    Key("resets_requested", "count", "calls of the `reset` service"),
    Key("resets", "count", "stream resets carried out (reset service, bag loop)"),
    Key("prefills", "count", "language-model passes over queued frames (one pass takes several frames when "
                             "catching up)"),
    Key("frames_reprefilled", "frames", "frames fed a second time because a reply started inside their pass"),
    Key("midbatch_replies", "count", "replies decided at a frame that was not the first of its pass"),
    # latency and throughput
    Key("decision_latency_ms", "ms", "median time from a frame's arrival to its decision (last 512 decisions)"),
    Key("decision_latency_p99_ms", "ms", "99th percentile of the same"),
    Key("first_token_ms", "ms", "median time from a decision or question to the first token of its reply (whole run)"),
    Key("decode_tok_s", "tokens/s", "reply tokens per second (tokens over the time from each decision or "
                                    "question to its last token)"),
    # queues and memory
    Key("queue_capture", "frames", "frames waiting for the vision tower now"),
    Key("queue_ready", "frames", "encoded frames waiting for the language model now"),
    Key("queue_capacity", "frames", "most frames queued before overload drops start (`stream.max_backlog`)"),
    Key("max_queue_depth", "frames", "the most encoded frames ever waiting for the language model at once"),
    Key("cache_tokens", "tokens", "tokens in the language model's KV cache now"),
    Key("memory_<tier>", "tokens", "tokens held per bounded-memory tier: sink, text, long, recent, tail", BOUNDED),
    Key("memory_frames_long", "frames", "keyframes held in long-term memory", BOUNDED),
    Key("memory_frames_recent", "frames", "frames held in the recent window", BOUNDED),
    Key("last_error", "text", "the last model error (one line)", "after a model error"),
    # overlay
    Key("overlay_submitted", "images", "overlays asked for (one per decided frame)", OVERLAY),
    Key("overlay_drawn", "images", "overlays drawn and published", OVERLAY),
    Key("overlay_dropped", "images", "overlays skipped because drawing fell behind (oldest first)", OVERLAY),
    Key("overlay_failed", "images", "overlays that failed to draw or publish (logged once)", OVERLAY),
    Key("overlay_missing_frames", "images", "decisions whose frame image was no longer held", OVERLAY),
)
MEMORY_TIERS = ("sink", "text", "long", "recent", "tail")


def _fmt(key: str, v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.1f}" if key.endswith("_ms") else f"{v:.4g}"
    return str(v)


def diagnostic_values(stats: dict, *, ingest_fps: float, dropped_inactive: int, overlay: dict | None = None,
                      last_error: str = "") -> dict[str, str]:
    """The documented keys (KEYS) from StreamHost.stats() and what only the node knows, as strings."""
    counts = stats.get("stamp_counts", {})
    corrupt_reasons = {k: v for k, v in stats.items()
                       if k.startswith("corrupt_") and k != "corrupt_frames" and v}
    first_token_s = stats.get("first_token_p50_s", math.nan)
    out = {
        "frames_in": stats.get("frames_in", 0),
        "ingest_fps": f"{ingest_fps:.2f}",
        "dropped_inactive": dropped_inactive,
        "off_grid": stats.get("off_grid", 0) + stats.get("frames_skipped", 0),
        "dropped_duplicate": counts.get("duplicate", 0),
        "dropped_out_of_order": counts.get("out_of_order", 0),
        "stamp_jumps": counts.get("jump", 0),
        "stream_restarts": stats.get("stream_restarts", 0),
        "corrupt_frames": sum(corrupt_reasons.values()) + stats.get("corrupt_frames", 0),
        **corrupt_reasons,
        "frames_sampled": stats.get("frames_sampled", 0),
        "frames_decided": stats.get("frames_decided", 0),
        "frames_lost": stats.get("frames_lost", 0),
        "dropped_thinned": stats.get("dropped_thinned", 0),
        "dropped_oldest": stats.get("dropped_oldest", 0),
        "dropped_error": stats.get("dropped_error", 0),
        "engine_errors": stats.get("engine_errors", 0),
        "frames_spoken": stats.get("responses", 0),
        "utterances": stats.get("utterances", 0),
        "queries": stats.get("queries", 0),
        "resets_requested": stats.get("resets_requested", 0),
        "resets": stats.get("resets", 0),
        "prefills": stats.get("prefills", 0),
        "frames_reprefilled": stats.get("frames_reprefilled", 0),
        "midbatch_replies": stats.get("midbatch_replies", 0),
        "decision_latency_ms": stats.get("decision_latency_ms", math.nan),
        "decision_latency_p99_ms": stats.get("decision_latency_p99_ms", math.nan),
        "first_token_ms": first_token_s * 1e3,
        "decode_tok_s": stats.get("decode_tok_s", math.nan),
        "queue_capture": stats.get("queue_capture", 0),
        "queue_ready": stats.get("queue_ready", 0),
        "queue_capacity": stats.get("queue_capacity", 0),
        "max_queue_depth": stats.get("max_queue_depth", 0),
        "cache_tokens": stats.get("cache_tokens", 0),
    }
    if "frames_missed_at_start" in stats:
        out["frames_missed_at_start"] = stats["frames_missed_at_start"]
    if "memory_total" in stats:                                   # bounded memory (StreamHost: backend occupancy)
        out.update({f"memory_{t}": stats.get(f"memory_{t}", 0) for t in MEMORY_TIERS})
        out["memory_frames_long"] = stats.get("memory_frames_long", 0)
        out["memory_frames_recent"] = stats.get("memory_frames_recent", 0)
    if last_error:
        out["last_error"] = " ".join(last_error.split())[:200]
    out.update(overlay or {})
    return {k: _fmt(k, v) for k, v in out.items()}


def documented(key: str) -> bool:
    """Whether `key` is in KEYS (a `<…>` row stands for its family)."""
    for k in KEYS:
        if k.name == key or ("<" in k.name and key.startswith(k.name.split("<")[0])):
            return True
    return False


def input_status(active: bool, stall_s: float, idle_s: float | None, clock_advance_s: float = 0.0,
                 stamp_lag_s: float = 0.0) -> tuple[int, str]:
    """(level, message) of a camera's status.

    `idle_s`: wall seconds since the last frame arrived (None: none yet); `clock_advance_s`: how far the node's
    clock (ROS time: /clock under use_sim_time) moved since then; `stamp_lag_s`: the node's clock minus the last
    frame's capture stamp when it arrived. The rule (docs/ros.md "Status"): a live camera that stops is stalled
    (WARN); input that stops when its clock stopped too (/clock of a bag that ended or is paused) or whose stamps
    were not from this clock (a bag played without --clock) ended: idle (OK)."""
    if not active:
        return OK, "inactive"
    if idle_s is None:
        return OK, "active, waiting for the first frame"
    if idle_s <= stall_s:
        return OK, "active"
    if clock_advance_s < CLOCK_STOPPED * idle_s:
        return OK, f"idle: no frame for {idle_s:.0f} s and the clock stopped (playback ended or paused)"
    if abs(stamp_lag_s) > RECORDED_LAG_S:
        return OK, (f"idle: no frame for {idle_s:.0f} s; the input was recorded (its stamps were "
                    f"{abs(stamp_lag_s):.0f} s from this node's clock): it ended")
    return WARN, f"camera stalled: no frame for {idle_s:.0f} s"
