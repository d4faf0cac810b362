"""Questions about a stream's past from the synthetic worlds' truth: the training samples (demo_model/qa.py) are laid
out exactly as the engine answers with recall on, and the recall benchmark (recall_bench.py) asks questions whose
truth is right at the depths it reports; `SynthConfig.rest` leaves objects untouched without changing other worlds."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vstream_ros.engine.protocol import StreamState, recall_prompt_text
from vstream_ros.engine.recall import RecallConfig, retrieve
from vstream_ros.engine.recall.retrieve import parse_clock
from vstream_ros.engine.teacher_forced import IGNORE
from vstream_ros.engine.template import EOT_ID, V_TOKEN_ID, load_tokenizer
from vstream_lab import recall_bench as rb
from vstream_lab.demo_model.qa import first_frame_only, qa_item, questions_at, truth_store
from vstream_lab.synth import truth
from vstream_lab.synth.script import SynthConfig, make_script
from vstream_lab.synth.world import World


def _events(cfg):
    return truth.ground_truth(World(cfg))["events"]


def test_rest_leaves_objects_untouched_and_other_worlds_unchanged():
    plain = SynthConfig(seed=31, duration=600)
    assert truth.video_uid(plain) == truth.video_uid(SynthConfig(seed=31, duration=600, rest=()))
    rested = SynthConfig(seed=31, duration=600, n_objects=6, rest=((0, 120.0), (2, 300.0)))
    assert truth.video_uid(rested) != truth.video_uid(SynthConfig(seed=31, duration=600, n_objects=6))
    sc = make_script(rested)
    names = [o.name for o in sc.objects]
    for e in sc.events:
        if e.kind == "pick":
            assert not (e.obj == names[0] and e.start >= 120.0) and not (e.obj == names[2] and e.start >= 300.0)
    assert any(e.obj not in (names[0], names[2]) and e.start > 500 for e in sc.events)   # the others go on
    with pytest.raises(ValueError, match="rest"):
        SynthConfig(rest=((-1, 3.0),))


def test_bench_questions_have_the_truth_at_their_depth():
    cfg = rb.world_config(rb.SEEDS[0], 1200.0)          # 20 min: depths 1, 5, 15 exist
    events = _events(cfg)
    qs = rb.questions(events, cfg.duration)
    assert {q["depth"] for q in qs} >= {1, 5, 15} and {q["form"] for q in qs} == set(rb.FORMS)
    for q in qs:
        lo, hi = rb.DEPTHS[q["depth"]]
        assert lo <= (q["now"] - q["truth_t"]) / 60 <= hi and q["now"] <= cfg.duration
        later = [e for e in events if e["obj"] == q["obj"] and q["truth_t"] < e["time"] <= q["now"] - 3.0]
        if q["form"] == "where":      # the last placement before the question
            assert not [e for e in later if e["kind"] == "place"]
        if q["form"] == "last_pick":
            assert not [e for e in later if e["kind"] == "pick"]
    q = next(q for q in qs if q["form"] == "last_pick")
    assert rb.correct(q, f"You last picked up the {q['obj']} at {q['truth']}.")
    assert not rb.correct(q, "You last picked up it at 0:00.") or q["truth_t"] < 4
    w = next(q for q in qs if q["form"] == "where")
    assert rb.correct(w, f"You put the {w['obj']} {w['truth']} at 1:00.") and not rb.correct(w, "I do not know.")


def test_qa_sample_is_the_engines_recall_prompt_with_only_the_answer_learned():
    tok = load_tokenizer()
    cfg = SynthConfig(seed=32, duration=120)
    events = _events(cfg)
    feats = torch.randn(240, 10, 8)
    store = truth_store(events, feats, 2.0, RecallConfig(), offset_s=600.0)
    now = 110.0
    qs = questions_at(events, now, 2.0, offset_s=600.0)
    assert {q.form for q in qs} == {"pick_at", "where", "last_pick"}
    q = next(q for q in qs if q.form == "where")
    prefix = [1, 2, 3] + [V_TOKEN_ID] * 10
    x = qa_item(prefix, feats[:1], store, now + 600.0, q, tok)
    assert x is not None
    rec = retrieve(q.text, store, now + 600.0)
    prompt = list(tok(recall_prompt_text(StreamState.IN_RUN, rec.items, q.text), add_special_tokens=False)["input_ids"])
    ids, labels = x["input_ids"].tolist(), x["labels"].tolist()
    assert ids[:len(prefix)] == prefix and ids[len(prefix):len(prefix) + len(prompt)] == prompt
    learned = [t for t in labels if t != IGNORE]
    assert learned[-1] == EOT_ID and tok.decode(learned[:-1]).strip() == q.answer
    assert parse_clock(q.answer) >= 600 and q.answer.startswith("You put the")          # stamps shifted 10 min
    assert x["frames"].shape[0] == 1 + rec.vision.shape[0]
    assert np.isclose(x["moment"], rec.moment)


def test_first_frame_context_keeps_the_memory_block_question_and_answer_whole():
    tok = load_tokenizer()
    cfg = SynthConfig(seed=32, duration=120)
    events = _events(cfg)
    feats = torch.randn(240, 10, 8)
    store = truth_store(events, feats, 2.0, RecallConfig())
    q = next(q for q in questions_at(events, 110.0, 2.0) if q.form == "last_pick")
    prefix = [1, 2] + [V_TOKEN_ID] * 10 + [7, 8] + [V_TOKEN_ID] * 10 + [9] + [V_TOKEN_ID] * 10
    x = qa_item(prefix, feats[:3], store, 110.0, q, tok)
    short = first_frame_only(x)
    n = len(prefix) - 12                                         # two of the three cached frames and their text go
    assert short["input_ids"].tolist() == prefix[:12] + x["input_ids"].tolist()[len(prefix):]
    assert short["labels"].tolist()[12:] == x["labels"].tolist()[len(prefix):]
    assert len(short["input_ids"]) == len(x["input_ids"]) - n
    assert torch.equal(short["frames"], torch.cat([x["frames"][:1], x["frames"][3:]]))
    assert sum(t == V_TOKEN_ID for t in short["input_ids"].tolist()) == short["frames"].shape[0] * 10


def test_many_fine_clock_offsets_per_world_give_many_distinct_answer_clocks():
    from vstream_lab.demo_model.qa import qa_samples
    from vstream_ros.train.cli_train import memory_settings
    from vstream_ros.train.dialogue import StreamDialogue
    tok = load_tokenizer()
    cfg = SynthConfig(seed=33, duration=90)
    d = truth.stream_dialogue(World(cfg), 2.0)
    assert isinstance(d, StreamDialogue)
    feats = {d.video_uid: torch.randn(180, 10, 8)}
    evs = {d.video_uid: _events(cfg)}
    mem = memory_settings({"fps": 2.0, "memory": {"policy": "keyframes", "budget_tokens": 1604}})

    def clocks(**kw):
        xs = qa_samples([d], feats, evs, tok, mem, per_sample=1, seed=3, **kw)
        answers = [tok.decode([t for t in x["labels"].tolist() if t not in (IGNORE, EOT_ID)]) for x in xs]
        return xs, {parse_clock(a) for a in answers}
    one, c1 = clocks(offsets_per_world=1)
    many, c8 = clocks(offsets_per_world=8, items_per_offset=3, context="first_frame")
    assert one and many and len(c8) > 2 * len(c1)                # the clock is not the same few numbers
    assert all(c % 0.5 == 0 and 0 <= c <= 56 * 60 for c in c8)   # on the 2 fps grid, within the hour
    assert all(sum(t == V_TOKEN_ID for t in x["input_ids"].tolist()) == x["frames"].shape[0] * 10 for x in many)
    with pytest.raises(ValueError, match="context"):
        qa_samples([d], feats, evs, tok, mem, context="all")


def test_answer_accuracy_scores_clock_numbers_words_and_whole_answers_per_form(tiny_model):
    llm = tiny_model.llm
    from vstream_lab.demo_model.qa import answer_accuracy
    from vstream_ros.testing.tiny import VISION_HIDDEN
    tok = load_tokenizer()
    cfg = SynthConfig(seed=32, duration=120)
    events = _events(cfg)
    feats = torch.randn(240, 10, VISION_HIDDEN)
    store = truth_store(events, feats, 2.0, RecallConfig(), offset_s=600.0)
    qs = questions_at(events, 110.0, 2.0, offset_s=600.0)
    picked = [next(q for q in qs if q.form == f) for f in ("pick_at", "last_pick", "last_pick")]
    samples = [qa_item([1, 2] + [V_TOKEN_ID] * 10, feats[:1], store, 710.0, q, tok) for q in picked]
    assert all(x is not None for x in samples)
    real_head = llm.lm_head

    class Oracle(torch.nn.Module):
        """Logits that pick each answer token, sample after sample; `wrong`: every clock number of that sample's
        answer comes out one token off."""
        def __init__(self, wrong=None):
            super().__init__()
            self.targets = [x["labels"][x["labels"] != IGNORE] for x in samples]
            self.wrong, self.calls = wrong, 0

        def forward(self, h):
            i, y = self.calls, self.targets[self.calls]
            self.calls += 1
            logits = torch.zeros(len(y), real_head.out_features)
            logits[torch.arange(len(y)), y] = 1.0
            if i == self.wrong:
                for j, t in enumerate(y.tolist()):
                    if tok.decode([t]).strip().isdigit():
                        logits[j] = 0.0
                        logits[j, t + 1] = 1.0
            return logits
    try:
        llm.lm_head = Oracle()
        perfect = answer_accuracy(llm, samples, tok)
        llm.lm_head = Oracle(wrong=2)
        off = answer_accuracy(llm, samples, tok)
    finally:
        llm.lm_head = real_head
    assert perfect == {"pick_at": {"clock": 1.0, "words": 1.0, "exact": 1.0, "n": 1},
                       "last_pick": {"clock": 1.0, "words": 1.0, "exact": 1.0, "n": 2}}
    assert off["pick_at"] == perfect["pick_at"]
    assert off["last_pick"] == {"clock": 0.5, "words": 1.0, "exact": 0.5, "n": 2}
