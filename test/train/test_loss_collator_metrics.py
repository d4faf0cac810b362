"""Stream loss, collator and teacher-forced streaming metrics on hand-built tensors."""
import math

import pytest
import torch
import torch.nn.functional as F

from vstream_ros.engine.template import (
    EOT_ID,
    SILENT_ID,
    SPEAK_ID,
    V_TOKEN_ID,
    load_tokenizer,
)
from vstream_ros.train.collator import StreamCollator
from vstream_ros.train.dialogue import encode_dialogue, validate_conversation
from vstream_ros.train.loss import sanitize_labels, stream_loss, token_weight_table
from vstream_ros.engine.teacher_forced import aggregate, sample_metrics, split_turns


def test_stream_loss_weights_and_normalisation():
    torch.manual_seed(0)
    logits = torch.randn(1, 5, 20, requires_grad=True)
    ids = torch.tensor([[1, V_TOKEN_ID, 3, V_TOKEN_ID, 5]])
    labels = torch.tensor([[-100, 11, 7, 12, -100]])
    ce = F.cross_entropy(logits[0].detach(), labels[0].clamp(min=0), reduction="none")
    for w in (1.0, 2.0, 0.0):
        loss, parts = stream_loss(logits, labels, ids, stream_loss_weight=w)
        expected = (w * ce[1] + ce[2] + w * ce[3]) / 3          # divided by #labelled, not by the weights
        assert torch.allclose(loss, expected)
        assert parts["n_stream"] == 2 and parts["n_lm"] == 1
    loss.backward()
    assert logits.grad[0, 0].abs().sum() == 0 and logits.grad[0, 2].abs().sum() > 0
    empty, _ = stream_loss(logits, torch.full((1, 5), -100), ids)
    assert float(empty.detach()) == 0.0 and empty.requires_grad


def test_stream_loss_token_weights_scale_reply_tokens_only():
    torch.manual_seed(1)
    logits = torch.randn(1, 5, 20)
    ids = torch.tensor([[1, V_TOKEN_ID, 3, 4, 5]])
    labels = torch.tensor([[-100, 7, 7, 9, 7]])        # 7 at a frame-end position and at two reply positions
    ce = F.cross_entropy(logits[0, 1:], labels[0, 1:], reduction="none")
    table = token_weight_table({7: 3.0, 11: 0.0})
    assert table.shape == (128256,) and table[7] == 3.0 and table[11] == 0.0 and table[8] == 1.0
    loss, parts = stream_loss(logits, labels, ids, stream_loss_weight=2.0, token_weights=table)
    expected = (2.0 * ce[0] + 3.0 * ce[1] + ce[2] + 3.0 * ce[3]) / 4     # <v> position keeps the stream weight
    assert torch.allclose(loss, expected)
    assert parts["lm_ce"] == pytest.approx(float(ce[1:].mean()), rel=1e-5)  # parts stay unweighted means
    plain, _ = stream_loss(logits, labels, ids, stream_loss_weight=2.0, token_weights=token_weight_table({}))
    assert torch.allclose(plain, (2.0 * ce[0] + ce[1:].sum()) / 4)
    with pytest.raises(ValueError, match="not a text token id"):
        token_weight_table({V_TOKEN_ID: 2.0})
    with pytest.raises(ValueError, match=">= 0"):
        token_weight_table({7: -1.0})


def test_labels_beyond_vocab_become_eos():
    assert sanitize_labels(torch.tensor([-100, 5, V_TOKEN_ID])).tolist() == [-100, 5, EOT_ID]


def test_collator_pads_right_and_orders_frames():
    a = {"input_ids": torch.tensor([1] + [V_TOKEN_ID] * 10 + [2]), "labels": torch.tensor([-100] * 10 + [11, 3]),
         "frames": torch.zeros(1, 10, 4)}
    b = {"input_ids": torch.tensor([1] + [V_TOKEN_ID] * 20), "labels": torch.full((21,), -100),
         "frames": torch.ones(2, 10, 4)}
    batch = StreamCollator()([a, b])
    assert batch["input_ids"].shape == (2, 21)
    assert batch["input_ids"][0, 12:].eq(EOT_ID).all() and batch["labels"][0, 12:].eq(-100).all()
    assert batch["attention_mask"].sum(1).tolist() == [12, 21]
    assert batch["position_ids"][0, :12].tolist() == list(range(12)) and batch["position_ids"][1, -1] == 20
    assert batch["frames"].shape == (3, 10, 4) and batch["frames"][0].sum() == 0 and batch["frames"][1:].eq(1).all()
    bad = dict(b, frames=torch.ones(1, 10, 4))
    with pytest.raises(ValueError, match="placeholders"):
        StreamCollator()([bad])


@pytest.fixture(scope="module")
def sample():
    tok = load_tokenizer()
    conv = validate_conversation([{"role": "stream", "num_frames": 2}, {"role": "assistant", "content": "Hi."},
                                  {"role": "stream", "num_frames": 2}, {"role": "assistant", "content": "Ok."}])
    enc = encode_dialogue(conv, tok)
    return torch.tensor(enc.input_ids), torch.tensor(enc.labels), torch.zeros(4, 10, 8)


def fake_forward(fire_frames, calls=None):
    """Perfect LM on text; at a frame's last `<v>` predicts `]\\n` if the frame index is in fire_frames."""
    def forward(ids, frames):
        if calls is not None:
            calls.append(len(ids))
        ids_l = ids.tolist()
        logits = torch.zeros(len(ids_l), 128256)
        seen = 0
        for i, t in enumerate(ids_l):
            if t == V_TOKEN_ID:
                seen += 1
                if seen % 10 == 0:
                    logits[i, SPEAK_ID if (seen // 10 - 1) in fire_frames else SILENT_ID] = 30.0
                    continue
            logits[i, min(ids_l[i + 1], EOT_ID) if i + 1 < len(ids_l) else 0] = 30.0
        return logits
    return forward


def test_turns_split_at_eos(sample):
    ids, labels, _ = sample
    turns = split_turns(ids, labels)
    assert len(turns) == 2 and [len(t.stream) for t in turns] == [2, 2]
    assert all(ids[t.stream[-1]] == V_TOKEN_ID for t in turns)


def test_metrics_on_time(sample):
    m = sample_metrics(fake_forward({1, 3}), *sample)
    assert m.frame_diff == 0 and m.correctness == 1.0 and m.fluency == 1.0
    assert math.isclose(m.ppl, 1.0, abs_tol=1e-6)


def test_metrics_early_and_late(sample):
    m = sample_metrics(fake_forward({0, 3}), *sample)               # turn 1 fires one frame early
    n_lm = len(split_turns(*sample[:2])[0].lm)
    assert m.frame_diff == 0.5                                       # |1| and |0| averaged over turns
    assert math.isclose(m.fluency, ((2 - 1) / (2 + n_lm) + 1.0) / 2)
    calls = []
    m = sample_metrics(fake_forward({2}, calls), *sample)            # turn 1 silent; fires on next real frame
    assert len(calls) == 2 and calls[1] < calls[0]                    # one extension forward, trimmed prefix
    assert m.frame_diff == 1.0                                        # turn 1: −1 (late), turn 2: +1 (early)
    agg = aggregate([m], fps=2.0)
    assert agg["time_diff"] == 0.5 and agg["samples"] == 1


def test_metrics_wrong_text_lowers_correctness(sample):
    ids, labels, frames = sample
    base = fake_forward({1, 3})

    def forward(i, f):
        logits = base(i, f)
        logits[split_turns(ids, labels)[0].lm[1]] = 0.0                # second reply token: uniform → wrong argmax
        return logits
    m = sample_metrics(forward, ids, labels, frames)
    n_lm = len(split_turns(ids, labels)[0].lm)
    assert math.isclose(m.correctness, (1 / n_lm + 1.0) / 2)
    assert m.ppl > 1.5


def test_sample_and_stream_front_ends_agree(tiny_model):
    """The label-based front end equals the reference-stream front end (engine backend) on the same stream."""
    from vstream_ros.engine.live_model import embed_stream
    from vstream_ros.engine.reference import ReferenceBackend
    from vstream_ros.replay.metrics import Utterance
    from vstream_ros.engine.teacher_forced import stream_metrics
    from vstream_ros.testing.tiny import random_vision_tokens

    vision = random_vision_tokens(12, seed=5)                               # frames at t = 0, 0.5, …, 5.5 s
    refs = [Utterance(1.5, "You pick up a knife."), Utterance(4.0, "You cut the onion."),
            Utterance(5.0, "Done.")]
    theirs = stream_metrics(ReferenceBackend(tiny_model), tiny_model.protocol,
                            [(i / 2, vision[i]) for i in range(12)], refs, fps=2.0)
    conv = validate_conversation([{"role": "stream", "num_frames": 4}, {"role": "assistant", "content": refs[0].text},
                                  {"role": "stream", "num_frames": 5}, {"role": "assistant", "content": refs[1].text},
                                  {"role": "stream", "num_frames": 2}, {"role": "assistant", "content": refs[2].text},
                                  {"role": "stream", "num_frames": 1}])   # a trailing frame in no turn
    enc = encode_dialogue(conv, tiny_model.tokenizer)

    def forward(ids, frames):
        with torch.no_grad():
            return tiny_model.llm(inputs_embeds=embed_stream(tiny_model.llm, ids[None], frames)).logits[0].float()
    ours = aggregate([sample_metrics(forward, torch.tensor(enc.input_ids), torch.tensor(enc.labels), vision)])
    print("parity", {k: theirs[k] for k in ("lm_ppl", "lm_correctness", "fluency", "time_diff_s")}, ours,
          [p["frame_diff"] for p in theirs["per_turn"]])
    assert theirs["turns"] == 3
    for k_ours, k_theirs in (("lm_ppl", "lm_ppl"), ("lm_correctness", "lm_correctness"), ("fluency", "fluency"),
                             ("time_diff", "time_diff_s")):
        assert ours[k_ours] == pytest.approx(theirs[k_theirs], rel=1e-4, abs=1e-5), k_ours
