"""The recall tier (engine/recall): the host-RAM store, retrieval, the Memory block's grammar, and answers over
recalled memory given on a fork of the cache and rolled back — the live stream's cache, memory ledger and later
decisions are exactly those of the same stream without the question (tiny published-layout model, bounded memory,
float32 on CPU)."""
from __future__ import annotations

import pytest
import torch

from vstream_ros.engine.config import StreamConfig
from vstream_ros.engine.events import FrameDecision, QueryEvent, Response, event_from_json
from vstream_ros.engine.memory import BoundedBackend, Kind, MemoryConfig
from vstream_ros.engine.pipeline_queue import QueryTicket
from vstream_ros.engine.protocol import StreamState, clock_text, recall_prompt_text
from vstream_ros.engine.recall import RecallConfig, RecallStore, retrieve
from vstream_ros.engine.recall.retrieve import best_line, parse_clock
from vstream_ros.engine.runtime.runtime_backend import RuntimeBackend
from vstream_ros.engine.session import StreamSession
from vstream_ros.engine.template import STOP_IDS, V_TOKEN_ID
from vstream_ros.testing.tiny import random_vision_tokens


def test_clock_text_and_parse_clock_round_trip():
    assert [clock_text(t) for t in (0, 59.9, 61, 3599, 3600, 3725.5)] == \
        ["0:00", "0:59", "1:01", "59:59", "1:00:00", "1:02:05"]
    for t in (0, 61, 751, 3599, 3725):
        assert parse_clock(f"What did I pick up at {clock_text(t)}?") == t
    assert parse_clock("no time here") is None
    assert parse_clock("at 12:75") is None


def test_recall_prompt_puts_lines_and_frame_runs_in_order(tiny_model):
    p = tiny_model.protocol
    items = [(751.0, 2), (752.0, "C picks up the red block."), (753.5, 1)]
    text = recall_prompt_text(StreamState.IN_RUN, items, "What did I pick up at 12:31?")
    assert text.startswith("]\nMemory:\n12:31 [") and "\n12:32 C picks up the red block.\n12:33 [" in text
    assert text.endswith("\nUser: What did I pick up at 12:31?\nAssistant:")
    ids = p.recall_query_ids(StreamState.IN_RUN, items, "What did I pick up at 12:31?")
    assert sum(1 for i in ids if i == V_TOKEN_ID) == 3 * p.frame_tokens
    assert recall_prompt_text(StreamState.AFTER_REPLY, [], "q").startswith("<|eot_id|>\nMemory:")


def _store(n=40, fps=2.0, **kw):
    s = RecallStore(RecallConfig(**kw), fps)
    toks = random_vision_tokens(n, seed=3)
    for k in range(n):
        s.add_frame(k / fps, toks[k])
    return s, toks


def test_store_ring_is_bounded_in_hours_and_counts_what_it_drops():
    s, toks = _store(40, hours=10 / 3600)           # 10 s at 2 fps = 20 frames
    assert s.frames == 20 and s.dropped == 20 and s.oldest_t == 10.0
    assert s.bytes == 20 * toks[0].numel() * 4 and s.bytes_per_hour() == 7200 * toks[0].numel() * 4
    got = s.frames_between(12.0, 16.0, per_s=1.0)
    assert [t for t, _ in got] == [12.0, 13.0, 14.0, 15.0, 16.0]
    assert torch.equal(got[0][1], toks[24])         # the frame the model saw, unchanged
    with pytest.raises(ValueError, match="capture order"):
        s.add_frame(1.0, toks[0])
    with pytest.raises(ValueError, match="method"):
        RecallConfig(method="magic")


def test_best_line_takes_the_latest_line_of_the_object_with_the_question_verb():
    from vstream_ros.engine.recall.store import LogLine
    log = [LogLine(10, "narration", "C picks up the yellow card."),
           LogLine(12, "narration", "C places the yellow card on the blue block."),
           LogLine(30, "narration", "C picks up the yellow block."),     # the shape misread: still the yellow one
           LogLine(32, "narration", "C places the cyan card on the yellow block."),   # yellow is the target here
           LogLine(40, "narration", "C picks up the blue block."),
           LogLine(41, "answer", "When did I last pick up the yellow card? You last picked it up at 0:30.")]
    assert best_line("When did I last pick up the yellow card?", log, 60).t == 30
    assert best_line("Where did I put the yellow card?", log, 60).t == 12
    assert best_line("Where did I put the yellow card?", log, 11) is None or \
        best_line("Where did I put the yellow card?", log, 11).t == 10
    assert best_line("Where did I put the green ball?", log, 60) is None


def test_retrieve_methods_choose_the_window_and_what_is_spliced():
    s, _ = _store(60)                               # 30 s of frames
    s.add_line(12.0, "narration", "C picks up the red block.")
    s.add_line(13.5, "narration", "C moves the red block to the left.")
    log = retrieve("Where did I put the red block?", s, 29.5)
    assert log.how == "log" and log.moment == 13.5
    assert (13.5, "C moves the red block to the left.") in log.items and log.vision is not None
    assert min(log.evidence) >= 10.5 and max(log.evidence) <= 16.5
    text = retrieve("Where did I put the red block?", s, 29.5, RecallConfig(method="log-text"))
    assert text.vision is None and all(isinstance(w, str) for _, w in text.items)
    frames = retrieve("Where did I put the red block?", s, 29.5, RecallConfig(method="log-frames"))
    assert all(isinstance(w, int) for _, w in frames.items) and frames.vision.shape[0] == sum(w for _, w in frames.items)
    clock = retrieve("What did I pick up at 0:05?", s, 29.5)
    assert clock.how == "clock" and clock.moment == 5.0
    recent = retrieve("anything", s, 29.5, RecallConfig(method="recent", recent_frames=4))
    assert recent.evidence == (28.0, 28.5, 29.0, 29.5)
    cached = retrieve("What did I pick up at 0:05?", s, 29.5, RecallConfig(method="cache"), cached=[0.0, 4.5, 29.5])
    assert cached.evidence == (0.0, 4.5, 29.5)
    with pytest.raises(ValueError, match="bounded memory"):
        retrieve("x", s, 29.5, RecallConfig(method="cache"))
    small = retrieve("What did I pick up at 0:05?", s, 29.5, RecallConfig(max_tokens=64, frames_per_s=2))
    assert small.vision.shape[0] <= 3 and 5.0 in small.evidence       # trimmed to the frames nearest the moment


def _bounded(model):
    return BoundedBackend(RuntimeBackend(model, capacity=1024), MemoryConfig.sized("keyframes", 300, 2.0))


def _fed(model, frames, n):
    """A bounded backend fed the first `n` frames one by one (stamped k / 2 s), as a stream feeds them."""
    b, p, state = _bounded(model), model.protocol, StreamState.START
    for k in range(n):
        ids, ends = p.frames_ids(state, 1)
        b.stamp(k / 2.0)
        b.prefill(ids, frames[k:k + 1], ends)
        state = StreamState.IN_RUN
    return b


def _run(model, frames, asks, recall=True):
    events = []
    s = StreamSession(_bounded(model), model.protocol, StreamConfig(recall=RecallConfig() if recall else None),
                      on_event=events.append)
    for t, text in asks:
        s.ask(text, t)
    states = []
    for k in range(frames.shape[0]):
        s.push_frame(frames[k], k / 2.0)
        states.append((s.backend.length, s.backend.manager.ledger.ids(), s.backend.occupancy()))
    s.flush()
    return events, states, s


def test_answers_over_recalled_memory_leave_the_stream_exactly_as_without_them(tiny_model):
    """Questions at 20.2 s and 35.2 s (bounded cache of 300 tokens: the first frames were evicted long before):
    every frame decision, proactive reply, cache length, ledger and occupancy equal those of the run without
    questions; the answers carry the stamps of the frames and lines they were given."""
    frames = random_vision_tokens(90, seed=11)
    asks = [(20.2, "What did I pick up at 0:03?"), (35.2, "What is on the table?")]
    plain, plain_states, _ = _run(tiny_model, frames, [], recall=False)
    with_q, q_states, sess = _run(tiny_model, frames, asks)
    key = lambda evs: [(e.index, e.decision, e.p_silent) if isinstance(e, FrameDecision) else  # noqa: E731
                       (e.time, e.text, e.token_ids) for e in evs
                       if isinstance(e, FrameDecision) or isinstance(e, Response) and e.trigger == "proactive"]
    assert key(with_q) == key(plain)
    assert q_states == plain_states
    answers = [e for e in with_q if isinstance(e, Response) and e.trigger == "query"]
    assert [a.time for a in answers] == [20.2, 35.2] and len([e for e in with_q if isinstance(e, QueryEvent)]) == 2
    assert answers[0].evidence and all(0.0 <= t <= 6.0 for t in answers[0].evidence)      # 0:03 ± 3 s
    assert answers[1].evidence and all(29.0 <= t <= 35.2 for t in answers[1].evidence)    # the last seconds
    assert event_from_json(answers[0].to_json()).evidence == answers[0].evidence
    assert [ln.kind for ln in sess.stream.recall.log].count("answer") == 2
    assert sess.stream.recall.frames == 90


def test_a_query_ticket_may_carry_its_own_recall_method(tiny_model):
    frames = random_vision_tokens(30, seed=12)
    events = []
    s = StreamSession(_bounded(tiny_model), tiny_model.protocol, StreamConfig(recall=RecallConfig()),
                      on_event=events.append)
    ticket = QueryTicket("What did I see?", 10.2, recall=RecallConfig(method="recent", recent_frames=3))
    s.stream.add_query(ticket)
    for k in range(frames.shape[0]):
        s.push_frame(frames[k], k / 2.0)
    assert ticket.done.is_set() and ticket.evidence == (9.0, 9.5, 10.0)
    cache = QueryTicket("What did I see at 0:01?", 14.6, recall=RecallConfig(method="cache"))
    s.stream.add_query(cache)
    held = set(s.backend.frame_times())              # answered before the 15.0 s frame: this cache's frames
    s.push_frame(frames[0], 15.0)
    assert cache.done.is_set() and cache.evidence and set(cache.evidence) <= held and 1.0 in cache.evidence


def test_fork_rollback_restores_a_bounded_backend_exactly(tiny_model):
    frames = random_vision_tokens(40, seed=13)
    b = _fed(tiny_model, frames, 40)
    p, state = tiny_model.protocol, StreamState.IN_RUN
    before = (b.length, b.manager.ledger.ids(), b.occupancy(), b.frame_times())
    mark = b.fork()
    ids, ends = p.frames_ids(state, 30)                     # far more than the cap: nothing may be evicted
    b.prefill(ids, frames[:30], ends)
    assert b.length == before[0] + len(ids)
    with pytest.raises(RuntimeError, match="already open"):
        b.fork()
    b.rollback(mark)
    assert (b.length, b.manager.ledger.ids(), b.occupancy(), b.frame_times()) == before


def test_vstream_run_with_recall_answers_with_evidence_and_narrates_as_without(tiny_paths, tmp_path):
    """`vstream run --recall on`: the answer event carries the recalled stamps, stdout shows the recalled stretch,
    stderr says what recall keeps; every frame decision equals the run with recall off and no question."""
    import json
    import os
    import subprocess
    import sys

    from vstream_ros.testing.media import write_test_video
    video = write_test_video(tmp_path / "clip.mp4", n=120, fps=10, noise=True)
    model = ["--model", tiny_paths.checkpoint, "--llm", tiny_paths.llm, "--vision", tiny_paths.vision,
             "--device", "cpu", "--max-new-tokens", "4", "--no-progress"]

    def run(*extra, out):
        r = subprocess.run([sys.executable, "-m", "vstream_ros.cli", "run", str(video), *model, *extra,
                            "--events-jsonl", str(out)], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert r.returncode == 0, r.stderr
        return r, [json.loads(line) for line in out.read_text().splitlines()]
    r, ev = run("--recall", "on", "--recall-hours", "1", "--ask", "9.2:What did I pick up at 0:03?",
                out=tmp_path / "recall.jsonl")
    _, plain = run("--recall", "off", out=tmp_path / "plain.jsonl")
    frames = lambda evs: [(e["index"], e["decision"], e["p_silent"]) for e in evs if e["event"] == "frame"]  # noqa: E731
    assert frames(ev) == frames(plain)
    answer = [e for e in ev if e["event"] == "response" and e["trigger"] == "query"]
    assert len(answer) == 1 and answer[0]["evidence"] and all(0.0 <= t <= 6.0 for t in answer[0]["evidence"])
    assert "(recalled 0:" in r.stdout and "recall on:" in r.stderr and "MB per hour" in r.stderr


def test_demo_questions_come_from_the_references_with_their_truth():
    from vstream_ros.demo.questions import questions
    from vstream_ros.replay.metrics import Utterance
    refs = [Utterance(3.7, "C picks up the black ball."), Utterance(5.5, "C puts the black ball in the yellow cup."),
            Utterance(14.0, "C picks up the yellow cup."), Utterance(15.1, "C moves the yellow cup closer."),
            Utterance(24.0, "C takes the black ball out of the yellow cup."),
            Utterance(25.2, "C places the black ball on the cyan block.")]
    qs = {q.form: q for q in questions(refs, 59.5)}
    assert qs["pick_at"].text == "What did I pick up at 0:03?" and qs["pick_at"].truth == "black ball"
    assert qs["where"].text == "Where did I put the yellow cup?" and qs["where"].truth == "closer"
    assert qs["last_pick"].text == "When did I last pick up the yellow cup?" and qs["last_pick"].truth_t == 14.0
    assert qs["pick_at"].right("You picked up the black ball at 0:03.") and not qs["pick_at"].right("the black cup")
    assert qs["where"].right("You put the yellow cup closer at 0:15.")
    assert qs["last_pick"].right("at 0:16") and not qs["last_pick"].right("at 0:20") and not qs["last_pick"].right("")
    assert questions(refs, 2.0) == []


def test_times_count_from_the_streams_first_frame_for_camera_stamps():
    """A ROS camera's stamps are seconds since 1970: the model reads, and questions name, times since the stream's
    first frame; the evidence keeps the camera's own stamps."""
    t0 = 1_765_000_000.25
    s = RecallStore(RecallConfig(), 2.0)
    toks = random_vision_tokens(40, seed=5)
    for k in range(40):
        s.add_frame(t0 + k / 2.0, toks[k])
    s.add_line(t0 + 5.0, "narration", "C picks up the red block.")
    rec = retrieve("What did I pick up at 0:05?", s, t0 + 19.5)
    assert s.origin == t0 and rec.moment == t0 + 5.0
    assert (5.0, "C picks up the red block.") in rec.items and all(0 <= t < 20 for t, _ in rec.items)
    assert min(rec.evidence) >= t0 + 2.0 and max(rec.evidence) <= t0 + 8.0
    s.reset()
    assert s.origin is None and s.frames == 0
    fixed = RecallStore(RecallConfig(), 2.0, origin=0.0)
    fixed.add_frame(600.0, toks[0])
    assert fixed.origin == 0.0


def test_fork_keep_sets_the_rest_aside_and_rollback_puts_it_back_exactly(tiny_model):
    """fork(keep): the branch sees the first `keep` positions only; rollback restores every key, value, ledger id
    and the next frame's logits (bounded keyframes cache, the stream's first frames evicted)."""
    frames = random_vision_tokens(41, seed=14)
    b, p = _fed(tiny_model, frames, 40), tiny_model.protocol
    keep = b.first_frame_end()
    ledger = b.manager.ledger.ids()
    assert keep is not None and ledger[keep - 1] == V_TOKEN_ID and ledger[keep] != V_TOKEN_ID
    assert sum(t == V_TOKEN_ID for t in ledger[:keep]) == 10
    k0, v0 = b.cache.read()
    before = (b.length, ledger, b.occupancy(), b.frame_times())
    mark = b.fork(keep)
    assert b.length == keep and b.manager.ledger.ids() == ledger[:keep]
    ids, ends = p.frames_ids(StreamState.IN_RUN, 3)
    b.prefill(ids, frames[:3], ends)
    b.rollback(mark)
    k1, v1 = b.cache.read()
    assert (b.length, b.manager.ledger.ids(), b.occupancy(), b.frame_times()) == before
    assert torch.equal(k0, k1) and torch.equal(v0, v1)
    fresh = _fed(tiny_model, frames, 40)           # the same stream never forked: the same next-frame logits
    ids, ends = p.frames_ids(StreamState.IN_RUN, 1)
    assert torch.allclose(b.prefill(ids, frames[40:41], ends), fresh.prefill(ids, frames[40:41], ends), atol=1e-5)
    with pytest.raises(ValueError, match="outside"):
        b.fork(b.length + 1)


def test_first_frame_context_answers_over_the_first_cached_frame_and_the_memory_alone(tiny_model):
    """Recall context first_frame: the answer is the greedy reply of a fresh cache holding the stream's cache cut
    after its first frame, then the Memory block and question (exactly the layout of the demo model's question
    stage); the live stream's decisions, replies and caches stay those of the run without questions."""
    frames = random_vision_tokens(64, seed=11)
    cfg = RecallConfig(context="first_frame")
    asks = [(24.2, "What did I pick up at 0:03?")]

    def run(n, questions):
        events = []
        s = StreamSession(_bounded(tiny_model), tiny_model.protocol, StreamConfig(recall=cfg),
                          on_event=events.append)
        for t, text in questions:
            s.ask(text, t)
        states = []
        for k in range(n):
            s.push_frame(frames[k], k / 2.0)
            states.append((s.backend.length, s.backend.manager.ledger.ids()))
        return events, states, s

    plain, plain_states, _ = run(64, [])
    with_q, q_states, _ = run(64, asks)
    key = lambda evs: [(e.index, e.decision, e.p_silent) if isinstance(e, FrameDecision) else  # noqa: E731
                       (e.time, e.text, e.token_ids) for e in evs
                       if isinstance(e, FrameDecision) or isinstance(e, Response) and e.trigger == "proactive"]
    assert key(with_q) == key(plain) and q_states == plain_states
    answer = next(e for e in with_q if isinstance(e, Response) and e.trigger == "query")
    # the stream as it stood when the question was answered (frames before 24.2 s), and what retrieval gives then
    _, _, at = run(49, [])
    b, store = at.backend, at.stream.recall
    keep = b.first_frame_end()
    first = next(seg for seg in b.manager.ledger.segs if seg.kind is Kind.FRAME)
    rec = retrieve(asks[0][1], store, answer.time, cfg, tiny_model.protocol.silent_frame_len)
    assert tuple(answer.evidence) == tuple(rec.evidence) and keep < b.length
    ref = RuntimeBackend(tiny_model, capacity=1024)
    ref.prefill(b.manager.ledger.ids()[:keep], frames[first.index:first.index + 1], [-1])
    prompt = list(tiny_model.protocol.recall_query_ids(StreamState.IN_RUN, rec.items, asks[0][1]))
    logits = ref.prefill(prompt, rec.vision, [-1])[0]
    want = []
    for _ in range(StreamConfig().max_new_tokens):
        tok = int(logits.argmax())
        if tok in STOP_IDS:
            break
        want.append(tok)
        logits = ref.decode(tok)
    assert list(answer.token_ids) == want and want


def test_recall_context_comes_from_the_record_and_first_frame_needs_the_runtime(tmp_path):
    """`memory.recall_context auto` answers the way the model was trained (trained_context.json), `cache` without
    a record; first_frame on the reference backend is refused at check time with the way out; a record names it."""
    from vstream_ros.engine.config import ModelSpec
    from vstream_ros.engine.memory.context import TrainedContext, read_context, write_context
    from vstream_ros.engine.options import CLI_NAMES, NODE_NAMES, EngineConfig
    trained = TrainedContext(frames=120, tokens=1604, recall=True, recall_context="first_frame")
    write_context(tmp_path, trained)
    assert read_context(tmp_path) == trained
    runtime = EngineConfig(ModelSpec(checkpoint=str(tmp_path)), recall="auto")
    assert runtime.recall_config(read_context(tmp_path)).context == "first_frame"
    assert runtime.recall_config(TrainedContext(frames=120, tokens=1604, recall=True)).context == "cache"
    assert EngineConfig(recall="on").recall_config(None).context == "cache"
    assert EngineConfig(recall="on", recall_context="first_frame").recall_config(None).context == "first_frame"
    ref = EngineConfig(ModelSpec(checkpoint=str(tmp_path)), backend="reference", recall="on")
    assert ref.recall_config(read_context(tmp_path)).context == "cache"
    bad = EngineConfig(ModelSpec(checkpoint=str(tmp_path)), backend="reference", recall="on",
                       recall_context="first_frame")
    with pytest.raises(ValueError, match="--recall-context first_frame .*--backend runtime"):
        bad.check(CLI_NAMES)
    with pytest.raises(ValueError, match="memory.recall_context first_frame .*model.backend runtime"):
        bad.check(NODE_NAMES)
    with pytest.raises(ValueError, match="recall context must be one of cache, first_frame"):
        RecallConfig(context="sink")
    (tmp_path / "trained_context.json").write_text((tmp_path / "trained_context.json").read_text()
                                                   .replace("first_frame", "sink"))
    with pytest.raises(ValueError, match="recall_context must be one of"):
        read_context(tmp_path)
