"""StreamSession: decision rule, EOS pinning, length cap, query ordering, reset, and teacher-forced parity."""
import math

import pytest
import torch

from vstream_ros.engine.config import StreamConfig
from vstream_ros.engine.events import FrameDecision, QueryEvent, Response
from vstream_ros.engine.session import StreamSession, decide
from vstream_ros.engine.template import END_OF_TEXT_ID, EOT_ID, SILENT_ID, SPEAK_ID, V_TOKEN_ID

from vstream_ros.testing.scripted import ScriptedBackend

V10 = [V_TOKEN_ID] * 10


def tokens(n=1):
    return torch.zeros(10, 8) if n == 1 else torch.zeros(n, 10, 8)


def logits_with(p_silent: float, other: int = SPEAK_ID, p_other: float | None = None) -> torch.Tensor:
    """Logits over the full vocab giving P(`,`)=p_silent and P(other)=p_other (rest spread evenly)."""
    v = 128256
    p_other = (1 - p_silent) * 0.9 if p_other is None else p_other
    rest = (1 - p_silent - p_other) / (v - 2)
    p = torch.full((v,), rest, dtype=torch.float64)
    p[SILENT_ID], p[other] = p_silent, p_other
    return p.log().float()


# ---------------------------------------------------------------- decision rule
@pytest.mark.parametrize("p,theta,respond", [(0.80, 0.725, False), (0.70, 0.725, True), (0.73, 0.725, False),
                                             (0.99, 1.0, True), (0.01, 0.0, True)])
def test_decision_threshold(p, theta, respond):
    p_silent, r = decide(logits_with(p), theta)
    assert abs(p_silent - p) < 2e-3
    assert r is respond


def test_low_threshold_still_needs_comma_to_be_the_argmax():
    # θ ≤ 0.5: P(',') = 0.4 passes the threshold but `]\n` at 0.5 is the argmax → speak.
    assert decide(logits_with(0.4, p_other=0.5), 0.3)[1] is True
    assert decide(logits_with(0.5, p_other=0.4), 0.3)[1] is False


def test_softmax_is_over_the_full_vocabulary():
    # logit(',') ≫ logit(']\n') but 128k other tokens share the mass: P(',') < θ → speak.
    logits = torch.zeros(128256)
    logits[SILENT_ID], logits[SPEAK_ID] = 11.0, 0.0
    p_silent, respond = decide(logits, 0.725)
    assert p_silent == pytest.approx(math.exp(11) / (math.exp(11) + 128255), rel=1e-4)
    assert respond is True


def test_unexpected_argmax_token_means_speak_and_never_crashes(protocol):
    backend = ScriptedBackend(decisions=[True], replies=[[500]], frame_token=13)   # `.` as upstream #17
    s = StreamSession(backend, protocol)
    events = s.push_frame(tokens(), 0.0)
    assert events[0].decision == "respond"
    assert isinstance(events[-1], Response) and events[-1].trigger == "proactive"
    assert backend.fed[1][:3] == [SPEAK_ID, 72803, 25]


# ---------------------------------------------------------------- feeding and replies
def test_silent_stream_feeds_comma_between_frames(protocol):
    backend = ScriptedBackend(decisions=[False, False, False])
    s = StreamSession(backend, protocol)
    for i in range(3):
        assert [e.decision for e in s.push_frame(tokens(), i * 0.5)] == ["silent"]
    assert backend.fed[0] == list(protocol.first_frame_ids) + V10
    assert backend.fed[1] == [SILENT_ID] + V10 and backend.fed[2] == [SILENT_ID] + V10


def test_reply_stops_on_pinned_eot_even_if_tokenizer_says_otherwise(protocol):
    protocol.tokenizer.eos_token = "<|end_of_text|>"      # a stale local cache (upstream #12, #15)
    try:
        backend = ScriptedBackend(decisions=[True, False], replies=[[1000, 2000]])
        s = StreamSession(backend, protocol)
        events = s.push_frame(tokens(), 0.0)
    finally:
        protocol.tokenizer.eos_token = "<|eot_id|>"
    reply = events[-1]
    assert reply.token_ids == (1000, 2000) and reply.stop == "eos"
    assert backend.fed[1:] == [[SPEAK_ID, 72803, 25], [1000], [2000]]     # EOS itself is not fed
    s.push_frame(tokens(), 0.5)
    assert backend.fed[-1] == [EOT_ID, 198, 58] + V10


def test_end_of_text_also_stops(protocol):
    backend = ScriptedBackend(decisions=[True], replies=[[1000]], eos=END_OF_TEXT_ID)
    reply = StreamSession(backend, protocol).push_frame(tokens(), 0.0)[-1]
    assert reply.token_ids == (1000,) and reply.stop == "eos"


def test_max_new_tokens_cap_closes_the_turn_before_the_next_frame(protocol):
    backend = ScriptedBackend(decisions=[True, False], replies=[[1000 + i for i in range(50)]], eos=None)
    s = StreamSession(backend, protocol, StreamConfig(max_new_tokens=5))
    reply = s.push_frame(tokens(), 0.0)[-1]
    assert reply.token_ids == (1000, 1001, 1002, 1003, 1004) and reply.stop == "length"
    assert backend.fed[-1] == [1003]                      # the 5th token was sampled, not fed
    s.push_frame(tokens(), 0.5)
    assert backend.fed[-1] == [1004, EOT_ID, 198, 58] + V10


# ---------------------------------------------------------------- queries
def test_query_before_a_frame_is_answered_before_it(protocol):
    backend = ScriptedBackend(decisions=[False, False], replies=[[1000]])
    s = StreamSession(backend, protocol)
    s.push_frame(tokens(), 0.0)
    s.ask("What is this?", 0.3)
    events = s.push_frame(tokens(), 0.5)
    assert [type(e) for e in events] == [QueryEvent, Response, FrameDecision]
    assert events[1].trigger == "query" and events[1].time == 0.3 and events[1].frame_index == 0
    assert backend.fed[1][:3] == [SPEAK_ID, 1502, 25]       # `]\nUser:` closes the open run
    assert backend.fed[-1] == [EOT_ID, 198, 58] + V10


def test_query_at_the_frame_time_skips_that_frames_decision(protocol):
    backend = ScriptedBackend(decisions=[False, True], replies=[[1000]])
    s = StreamSession(backend, protocol)
    s.push_frame(tokens(), 0.0)
    s.ask("Now?", 0.5)
    events = s.push_frame(tokens(), 0.5)
    assert isinstance(events[0], FrameDecision) and events[0].decision is None and events[0].index == 1
    assert [type(e) for e in events[1:]] == [QueryEvent, Response]
    assert [e.trigger for e in events if isinstance(e, Response)] == ["query"]   # the frame said "speak": ignored


def test_query_after_a_reply_feeds_the_pending_eot(protocol):
    backend = ScriptedBackend(decisions=[True], replies=[[1000], [2000]])
    s = StreamSession(backend, protocol)
    s.push_frame(tokens(), 0.0)
    events = s.ask("And then?")
    assert events[-1].text and events[-1].trigger == "query"
    assert backend.fed[-2][:4] == [EOT_ID, 198, 1502, 25]


def test_queries_keep_time_order_and_flush_answers_the_rest(protocol):
    backend = ScriptedBackend(decisions=[False], replies=[[1], [2], [3]])
    s = StreamSession(backend, protocol)
    s.ask("late", 9.0)
    s.ask("early", 0.2)
    s.push_frame(tokens(), 0.5)
    rest = s.flush()
    assert [e.text for e in rest if isinstance(e, QueryEvent)] == ["late"]
    assert s.queued_queries == 0


def test_empty_query_is_rejected(protocol):
    with pytest.raises(ValueError, match="needs some text"):
        StreamSession(ScriptedBackend(), protocol).ask("   ")


def test_reset_starts_a_new_stream(protocol):
    backend = ScriptedBackend(decisions=[True, False], replies=[[1000]])
    s = StreamSession(backend, protocol)
    s.push_frame(tokens(), 0.0)
    s.ask("pending", 5.0)
    s.reset()
    assert s.queued_queries == 0 and s.frame_index == -1 and backend.length == 0
    events = s.push_frame(tokens(), 0.0)
    assert backend.fed[0] == list(protocol.first_frame_ids) + V10 and events[0].index == 0


# ---------------------------------------------------------------- tiny model: incremental == teacher forced
def test_incremental_streaming_equals_one_teacher_forced_forward(tiny_model):
    from vstream_ros.engine.live_model import embed_stream
    from vstream_ros.engine.reference import ReferenceBackend
    from vstream_ros.testing.tiny import random_vision_tokens

    s = StreamSession(ReferenceBackend(tiny_model), tiny_model.protocol, StreamConfig(max_new_tokens=5), record=True)
    vision = random_vision_tokens(20, seed=7)
    s.ask("What is happening?", 2.0)     # at a frame time: answered after that frame
    s.ask("Anything else?", 6.2)         # between frames: answered before the next one
    events = []
    for i in range(20):
        events += s.push_frame(vision[i], i * 0.5)
    decisions = [e.decision for e in events if isinstance(e, FrameDecision)]
    replies = [e for e in events if isinstance(e, Response)]
    assert "silent" in decisions and "respond" in decisions and None in decisions
    assert {r.trigger for r in replies} == {"proactive", "query"}
    assert {r.stop for r in replies} == {"eos", "length"}

    ids = torch.tensor([s.transcript_ids])
    with torch.no_grad():
        embeds = embed_stream(tiny_model.llm, ids, torch.cat(s.transcript_vision))
        full = tiny_model.llm(inputs_embeds=embeds).logits[0].float()
    positions = torch.tensor([p for p, _ in s.trace])
    incremental = torch.stack([lg for _, lg in s.trace])
    assert (full[positions] - incremental).abs().max().item() <= 1e-4
    assert s.backend.length == len(s.transcript_ids)
