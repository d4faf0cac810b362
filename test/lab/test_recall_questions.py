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
from vstream_lab.demo_model.qa import qa_item, questions_at, truth_store
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
