"""RuntimeBackend vs the lead's ReferenceBackend on the tiny checkpoint, through StreamSession."""
import torch

from vstream_ros.bench.wrappers import ForcedLength
from vstream_ros.engine.config import StreamConfig
from vstream_ros.engine.events import FrameDecision, Response
from vstream_ros.engine.reference import ReferenceBackend
from vstream_ros.engine.runtime.runtime_backend import RuntimeBackend
from vstream_ros.engine.session import StreamSession
from vstream_ros.testing.tiny import random_vision_tokens

TOL = 1e-4


def run(backend, protocol, vision, record=False):
    s = StreamSession(ForcedLength(backend), protocol, StreamConfig(max_new_tokens=6), record=record)
    s.ask("what is happening?", t=3.25)
    s.ask("and now?", t=5.0)                 # same time as frame 10: answered after it, decision skipped
    events = []
    for i in range(len(vision)):
        events += s.push_frame(vision[i], i * 0.5)
    return events + s.flush(), s


def test_same_decisions_replies_and_logits_as_reference(tiny_live, same_events):
    vision = random_vision_tokens(14, seed=11)
    ref_events, ref_s = run(ReferenceBackend(tiny_live), tiny_live.protocol, vision, record=True)
    fast_events, fast_s = run(RuntimeBackend(tiny_live), tiny_live.protocol, vision, record=True)
    same_events(ref_events, fast_events)
    decisions = {e.decision for e in ref_events if isinstance(e, FrameDecision)}
    assert {"silent", "respond", None} <= decisions          # every path exercised
    assert any(len(e.token_ids) == 6 for e in ref_events if isinstance(e, Response))
    assert ref_s.transcript_ids == fast_s.transcript_ids
    diffs = [(a[1] - b[1]).abs().max().item() for a, b in zip(ref_s.trace, fast_s.trace)]
    assert len(diffs) == len(ref_s.trace) > 30 and max(diffs) <= TOL


def test_peft_wrapped_model_is_merged_on_a_copy(tiny_live_peft, tiny_live):
    before = {k: v.clone() for k, v in tiny_live_peft.llm.state_dict().items() if "lora" in k}
    fast = RuntimeBackend(tiny_live_peft)
    after = {k: v for k, v in tiny_live_peft.llm.state_dict().items() if "lora" in k}
    assert before and all(torch.equal(before[k], after[k]) for k in before)   # caller's model untouched
    ref = ReferenceBackend(tiny_live)       # merged at load by the lead's loader
    vision = random_vision_tokens(2, seed=3)
    t = tiny_live.protocol
    ids = list(t.first_frame_ids) + [128256] * 10 + list(t.silent_ids) + [128256] * 10
    a = ref.prefill(ids, vision, [-12, -1])
    b = fast.prefill(ids, vision, [-12, -1])
    assert (a - b).abs().max() <= TOL
    fast.truncate(len(ids) - 11)
    ref.truncate(len(ids) - 11)
    assert (ref.decode(933) - fast.decode(933)).abs().max() <= TOL
    assert fast.length == ref.length == len(ids) - 10
