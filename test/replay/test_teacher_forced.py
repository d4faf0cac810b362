"""Teacher-forced metrics (docs/design/stream-format.md §9) on the tiny model match a direct computation: one plain
transformers forward over the whole reference stream, labels and metrics worked out here independently."""
import math

import pytest
import torch

from vstream_ros.engine.live_model import embed_stream
from vstream_ros.engine.template import EOT_ID, SILENT_ID, V_TOKEN_ID
from vstream_ros.replay.metrics import Utterance
from vstream_ros.engine.teacher_forced import plan_turns, stream_metrics as teacher_forced  # noqa: E402

FPS = 2.0


def _direct(model, frames, replies):
    """replies: {frame index: text}. Returns per-turn dicts computed from full-sequence logits."""
    tpl = model.protocol
    ids, vis, turns = [], [], []
    cur = {"ends": [], "frames": []}
    after_reply = False
    for f, (_, tok) in enumerate(frames):
        if f == 0:
            ids += list(tpl.first_frame_ids)
        elif after_reply:
            ids += [EOT_ID, 198, 58]
        else:
            ids += [SILENT_ID]
        after_reply = False
        ids += [V_TOKEN_ID] * 10
        vis.append(tok)
        cur["ends"].append(len(ids) - 1)
        cur["frames"].append(f)
        if f in replies:
            start = len(ids)
            ids += [933, 72803, 25] + list(tpl.encode(" " + replies[f]))
            cur["lm"] = list(range(start, len(ids)))
            turns.append(cur)
            cur = {"ends": [], "frames": []}
            after_reply = True
    llm = model.base
    with torch.no_grad():
        full = llm(inputs_embeds=embed_stream(llm, torch.tensor([ids]), torch.stack(vis))).logits[0].float()
    out = []
    for k, turn in enumerate(turns):
        s_pred = full[turn["ends"]].argmax(-1).tolist()
        n_s = len(s_pred)
        first = next((i for i, p in enumerate(s_pred) if p != SILENT_ID), None)
        if first is not None:
            fd = n_s - first - 1
        elif k == len(turns) - 1:
            fd = 0
        else:
            nxt = turns[k + 1]["frames"]
            kk = min(len(nxt), n_s - 1)
            fd = 0
            if kk > 0:
                ext = ids[: turn["ends"][-1] + 1]
                ends = []
                for _ in range(kk):
                    ext += [SILENT_ID] + [V_TOKEN_ID] * 10
                    ends.append(len(ext) - 1)
                v = torch.cat([torch.stack([frames[f][1] for f in range(turn["frames"][-1] + 1)]),
                               torch.stack([frames[f][1] for f in nxt[:kk]])])
                with torch.no_grad():
                    lg = llm(inputs_embeds=embed_stream(llm, torch.tensor([ext]), v)).logits[0, ends].float()
                p = lg.argmax(-1).tolist()
                j = next((i for i, x in enumerate(p) if x != SILENT_ID), None)
                fd = -(j + 1) if j is not None else -kk
        lm = turn["lm"]
        target = torch.tensor(ids[lm[0] + 1: lm[-1] + 1] + [EOT_ID])
        lg = full[lm]
        ppl = math.exp(float(torch.nn.functional.cross_entropy(lg, target)))
        pred = lg.argmax(-1).tolist()
        prefix = next((i for i, (a, b) in enumerate(zip(pred, target.tolist())) if a != b), len(lm))
        total = n_s + len(lm)
        flu = (n_s + prefix) / total if fd == 0 else (n_s - fd) / total if fd > 0 else (n_s - 1) / total
        out.append({"ppl": ppl, "correctness": prefix / len(lm), "frame_diff": fd, "fluency": flu})
    return out


def test_plan_turns_ceils_references_to_frames():
    times = [0.0, 0.5, 1.0, 1.5, 2.0]
    turns, trailing, dropped = plan_turns(times, [Utterance(0.6, "a b"), Utterance(0.9, "c d"),
                                                  Utterance(1.5, "e f"), Utterance(9.0, "late")])
    assert [(t.frames, t.text) for t in turns] == [((0, 1, 2), "c d"), ((3,), "e f")]
    assert trailing == [4] and dropped == 2


# With the tiny fixture these cases give frame_diff < 0 (late, extension path), = 0 (last turn) and, for
# seed 2 at scale 3, > 0 (early): every branch of the definition is compared.
@pytest.mark.parametrize("seed,scale,ref_times", [(7, 1.0, (1.0, 3.0, 4.6)), (7, 1.0, (0.2, 0.4, 2.1, 4.0)),
                                                  (7, 1.0, (4.5,)), (2, 3.0, (1.0, 3.0, 4.6))])
def test_matches_direct_computation(live_model, seed, scale, ref_times):
    from vstream_ros.engine.reference import ReferenceBackend
    from vstream_ros.testing.tiny import random_vision_tokens
    tokens = random_vision_tokens(11, seed=seed) * scale
    frames = [(i / FPS, tokens[i]) for i in range(11)]
    texts = ["You pick up the cup.", "You open the door.", "A man walks in.", "You sit down."]
    refs = [Utterance(t, texts[i % 4]) for i, t in enumerate(ref_times)]
    got = teacher_forced(ReferenceBackend(live_model), live_model.protocol, frames, refs, FPS)
    turns, _, _ = plan_turns([t for t, _ in frames], refs)
    want = _direct(live_model, frames, {t.frames[-1]: t.text for t in turns})
    assert got["turns"] == len(want) == len(turns)
    for g, w in zip(got["per_turn"], want):
        assert g["frame_diff"] == w["frame_diff"]
        assert g["correctness"] == w["correctness"]
        assert g["fluency"] == pytest.approx(w["fluency"])
        assert g["ppl"] == pytest.approx(w["ppl"], rel=1e-4)
    n = len(want)
    assert got["lm_ppl"] == pytest.approx(sum(w["ppl"] for w in want) / n, rel=1e-4)
    assert got["time_diff_s"] == pytest.approx(sum(abs(w["frame_diff"]) for w in want) / n / FPS)
    assert got["fluency"] == pytest.approx(sum(w["fluency"] for w in want) / n)
    assert got["lm_correctness"] == pytest.approx(sum(w["correctness"] for w in want) / n)


def test_empty_references_give_protocol_defaults(live_model):
    from vstream_ros.engine.reference import ReferenceBackend
    from vstream_ros.testing.tiny import random_vision_tokens
    frames = [(i / FPS, t) for i, t in enumerate(random_vision_tokens(3, seed=1))]
    got = teacher_forced(ReferenceBackend(live_model), live_model.protocol, frames, [], FPS)
    assert (got["lm_ppl"], got["time_diff_s"], got["fluency"], got["lm_correctness"], got["turns"]) == (1.0, 0.0, 1.0,
                                                                                                      1.0, 0)
